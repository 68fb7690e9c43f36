import Foundation
import Tensor

/// Resampling filters, as PIL's `Image.Resampling`.
public enum ResizeFilter: String, Sendable, CaseIterable {
    case nearest, box, bilinear, hamming, bicubic, lanczos

    /// The filter's support radius at scale 1 (PIL's `filterp->support`).
    var support: Double {
        switch self {
        case .nearest: return 0
        case .box: return 0.5
        case .bilinear, .hamming: return 1
        case .bicubic: return 2
        case .lanczos: return 3
        }
    }

    /// The filter kernel (PIL's Resample.c: bicubic with a = −0.5, Lanczos with a = 3).
    func weight(_ x: Double) -> Double {
        switch self {
        case .nearest: return 0
        case .box: return (x > -0.5 && x <= 0.5) ? 1 : 0
        case .bilinear:
            let t = Swift.abs(x)
            return t < 1 ? 1 - t : 0
        case .hamming:
            let t = Swift.abs(x)
            if t == 0 { return 1 }
            if t >= 1 { return 0 }
            return sin(t * .pi) / (t * .pi) * (0.54 + 0.46 * cos(t * .pi))
        case .bicubic:
            let a = -0.5, t = Swift.abs(x)
            if t < 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
            if t < 2 { return (((t - 5) * t + 8) * t - 4) * a }
            return 0
        case .lanczos:
            func sinc(_ value: Double) -> Double { value == 0 ? 1 : sin(value * .pi) / (value * .pi) }
            return (-3 <= x && x < 3) ? sinc(x) * sinc(x / 3) : 0
        }
    }
}

/// Per output coordinate, the first source index, the number of taps and their weights: PIL's
/// `precompute_coeffs`, including its support widening when downscaling (antialiasing).
struct ResampleCoefficients {
    let first: [Int]
    let count: [Int]
    let taps: Int
    /// `outputSize × taps` normalised weights.
    let weights: [Double]

    init(inputSize: Int, outputSize: Int, filter: ResizeFilter) {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = Swift.max(scale, 1)
        let support = filter.support * filterScale
        taps = Int(ceil(support)) * 2 + 1
        var first = [Int](repeating: 0, count: outputSize), count = first
        var weights = [Double](repeating: 0, count: outputSize * taps)
        for output in 0..<outputSize {
            let center = (Double(output) + 0.5) * scale
            // C's (int) cast truncates toward zero.
            let low = Swift.max(Int(center - support + 0.5), 0)
            let high = Swift.min(Int(center + support + 0.5), inputSize)
            let length = high - low
            var total = 0.0
            for tap in 0..<length {
                let value = filter.weight((Double(tap + low) - center + 0.5) / filterScale)
                weights[output * taps + tap] = value
                total += value
            }
            if total != 0 { for tap in 0..<length { weights[output * taps + tap] /= total } }
            first[output] = low
            count[output] = length
        }
        self.first = first
        self.count = count
        self.weights = weights
    }

    /// PIL's `normalize_coeffs_8bpc`: weights in fixed point with 22 fractional bits, rounded half away from zero.
    var fixedPoint: [Int32] {
        weights.map { value in
            let scaled = value * Double(1 << ResampleCoefficients.precisionBits)
            return Int32(value < 0 ? scaled - 0.5 : scaled + 0.5)
        }
    }

    static let precisionBits = 22
}

extension Image {
    /// Resized to `width × height` with PIL's algorithm (`Image.resize` without a box or reducing gap).
    ///
    /// 8-bit images match PIL exactly: a horizontal pass then a vertical pass, each in 22-bit fixed point
    /// with rounding and clipping to 8 bits in between. 16-bit images use the same coefficients in double
    /// precision. `nearest` follows PIL's affine scaling: source = ⌊(i + 0.5)·in/out⌋ accumulated as PIL does.
    public func resized(width newWidth: Int, height newHeight: Int, filter: ResizeFilter) -> Image {
        precondition(newWidth > 0 && newHeight > 0, "resize to \(newWidth)x\(newHeight)")
        if newWidth == width && newHeight == height { return self }
        if filter == .nearest {
            func positions(_ input: Int, _ output: Int) -> [Int] {
                let step = Double(input) / Double(output)
                var position = step * 0.5
                return (0..<output).map { _ in
                    defer { position += step }
                    return Swift.min(Int(position), input - 1)
                }
            }
            let columns = positions(width, newWidth), rows = positions(height, newHeight)
            return remapped(width: newWidth, height: newHeight) { (columns[$0], rows[$1]) }
        }
        var current = self
        // PIL resamples horizontally first, over only the rows the vertical pass will read.
        let vertical = ResampleCoefficients(inputSize: height, outputSize: newHeight, filter: filter)
        if newWidth != width {
            let firstRow = vertical.first[0]
            let lastRow = vertical.first[newHeight - 1] + vertical.count[newHeight - 1]
            current = current.resampledHorizontally(
                ResampleCoefficients(inputSize: width, outputSize: newWidth, filter: filter),
                width: newWidth, rows: firstRow..<lastRow)
            if newHeight != height {
                return current.resampledVertically(vertical, height: newHeight, rowOffset: firstRow)
            }
            return current
        }
        return current.resampledVertically(vertical, height: newHeight, rowOffset: 0)
    }

    @inline(__always)
    static func clip8(_ value: Int64) -> UInt16 {
        if value <= 0 { return 0 }
        let shifted = value >> Int64(ResampleCoefficients.precisionBits)
        return UInt16(Swift.min(shifted, 255))
    }

    func resampledHorizontally(_ coefficients: ResampleCoefficients, width newWidth: Int, rows: Range<Int>) -> Image {
        var result = Image(width: newWidth, height: rows.count, channels: channels, bitDepth: bitDepth, repeating: 0)
        let fixed = bitDepth == 8 ? coefficients.fixedPoint : []
        let taps = coefficients.taps
        for (outputRow, row) in rows.enumerated() {
            let line = row * width * channels
            for x in 0..<newWidth {
                let first = coefficients.first[x], count = coefficients.count[x]
                for channel in 0..<channels {
                    let destination = (outputRow * newWidth + x) * channels + channel
                    if bitDepth == 8 {
                        var total = Int64(1 << (ResampleCoefficients.precisionBits - 1))
                        for tap in 0..<count {
                            total += Int64(samples[line + (first + tap) * channels + channel]) * Int64(fixed[x * taps + tap])
                        }
                        result.samples[destination] = Image.clip8(total)
                    } else {
                        var total = 0.0
                        for tap in 0..<count {
                            total += Double(samples[line + (first + tap) * channels + channel]) * coefficients.weights[x * taps + tap]
                        }
                        result.samples[destination] = UInt16(Swift.min(Swift.max(total.rounded(), 0), 65535))
                    }
                }
            }
        }
        return result
    }

    func resampledVertically(_ coefficients: ResampleCoefficients, height newHeight: Int, rowOffset: Int) -> Image {
        var result = Image(width: width, height: newHeight, channels: channels, bitDepth: bitDepth, repeating: 0)
        let fixed = bitDepth == 8 ? coefficients.fixedPoint : []
        let taps = coefficients.taps, rowLength = width * channels
        for y in 0..<newHeight {
            let first = coefficients.first[y] - rowOffset, count = coefficients.count[y]
            for index in 0..<rowLength {
                if bitDepth == 8 {
                    var total = Int64(1 << (ResampleCoefficients.precisionBits - 1))
                    for tap in 0..<count {
                        total += Int64(samples[(first + tap) * rowLength + index]) * Int64(fixed[y * taps + tap])
                    }
                    result.samples[y * rowLength + index] = Image.clip8(total)
                } else {
                    var total = 0.0
                    for tap in 0..<count {
                        total += Double(samples[(first + tap) * rowLength + index]) * coefficients.weights[y * taps + tap]
                    }
                    result.samples[y * rowLength + index] = UInt16(Swift.min(Swift.max(total.rounded(), 0), 65535))
                }
            }
        }
        return result
    }
}

extension Tensor {
    /// `[N, C, H, W]` resampled to `height × width` with the coefficients of ``Image/resized(width:height:filter:)``
    /// in double precision, without rounding or clipping: for signed planes such as residuals. No gradient.
    public func resampled(height newHeight: Int, width newWidth: Int, filter: ResizeFilter) -> Tensor {
        precondition(shape.count == 4 && newHeight > 0 && newWidth > 0 && filter != .nearest, "resample \(shape) to \(newHeight)x\(newWidth)")
        let (planes, height, width) = (shape[0] * shape[1], shape[2], shape[3])
        let horizontal = ResampleCoefficients(inputSize: width, outputSize: newWidth, filter: filter)
        let vertical = ResampleCoefficients(inputSize: height, outputSize: newHeight, filter: filter)
        let output = Tensor(uninitializedShape: [shape[0], shape[1], newHeight, newWidth])
        var rows = [Double](repeating: 0, count: height * newWidth)
        for plane in 0..<planes {
            let source = pointer + plane * height * width, destination = output.pointer + plane * newHeight * newWidth
            for y in 0..<height {
                for x in 0..<newWidth {
                    var total = 0.0
                    for tap in 0..<horizontal.count[x] {
                        total += Double(source[y * width + horizontal.first[x] + tap]) * horizontal.weights[x * horizontal.taps + tap]
                    }
                    rows[y * newWidth + x] = total
                }
            }
            for y in 0..<newHeight {
                for x in 0..<newWidth {
                    var total = 0.0
                    for tap in 0..<vertical.count[y] {
                        total += rows[(vertical.first[y] + tap) * newWidth + x] * vertical.weights[y * vertical.taps + tap]
                    }
                    destination[y * newWidth + x] = Float(total)
                }
            }
        }
        return output
    }
}
