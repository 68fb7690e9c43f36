import Foundation
import NN
import Tensor

/// Runs a fully convolutional generator over a large image in overlapping tiles with bounded memory.
///
/// Instance norm would give each tile its own statistics (visible seams), so a first pass records every
/// norm layer's per-channel statistics on the whole image — or, when it is larger than `statisticsPixels`,
/// pooled over a grid of full-resolution crops spread over it (a downscaled copy would change the scale the
/// network sees) — and every tile is normalised with those. Tiles start on multiples of
/// `alignment` (the generator's total stride, so strided convolutions sample the same grid) and carry a
/// `margin` of real context on each side (at least the receptive radius); only their cores are kept, so with
/// whole-image statistics the result equals the untiled one up to float rounding.
public struct TiledInference {
    public var tile: Int
    public var margin: Int
    public var alignment: Int
    public var statisticsPixels: Int

    public init(tile: Int = 768, margin: Int = 96, alignment: Int = 4, statisticsPixels: Int = 1 << 20) {
        precondition(tile % alignment == 0 && margin % alignment == 0, "tile and margin must be multiples of \(alignment)")
        self.tile = tile
        self.margin = margin
        self.alignment = alignment
        self.statisticsPixels = statisticsPixels
    }

    /// Whether `[1, C, H, W]` is larger than one tile with its margins (smaller images run whole).
    public func needsTiling(height: Int, width: Int) -> Bool {
        height > tile + 2 * margin || width > tile + 2 * margin
    }

    /// `generator(input)` computed tile by tile. `input` is `[1, C, H, W]` with H and W multiples of `alignment`.
    ///
    /// - Parameter progress: called after each statistics pass and each tile with (done, total).
    public func run(_ generator: Module, on input: Tensor, progress: ((Int, Int) -> Void)? = nil) -> Tensor {
        precondition(input.rank == 4 && input.shape[0] == 1, "tiled inference takes one image")
        let (height, width) = (input.shape[2], input.shape[3])
        let statistics = InstanceNormStatistics()
        return statistics.sharing { withoutGradient {
            statistics.mode = .record
            let crops = statisticsCrops(height: height, width: width)
            let total = crops.count + ((height + tile - 1) / tile) * ((width + tile - 1) / tile)
            var done = 0
            for crop in crops {
                _ = generator(input.sliced(axis: 2, crop.rows).sliced(axis: 3, crop.columns))
                done += 1
                progress?(done, total)
            }
            statistics.mode = .apply
            var output: Tensor?
            for top in stride(from: 0, to: height, by: tile) {
                for left in stride(from: 0, to: width, by: tile) {
                    let coreHeight = min(tile, height - top), coreWidth = min(tile, width - left)
                    let y0 = max(0, top - margin), x0 = max(0, left - margin)
                    let y1 = min(height, top + coreHeight + margin), x1 = min(width, left + coreWidth + margin)
                    let piece = input.sliced(axis: 2, y0..<y1).sliced(axis: 3, x0..<x1)
                    let translated = generator(piece)
                    if output == nil { output = Tensor.zeros([1, translated.shape[1], height, width]) }
                    copy(translated, rows: (top - y0)..<(top - y0 + coreHeight), columns: (left - x0)..<(left - x0 + coreWidth),
                         into: output!, at: (top, left))
                    done += 1
                    progress?(done, total)
                }
            }
            return output!
        } }
    }

    /// The whole image when it has at most `statisticsPixels` pixels; otherwise a grid of aligned crops,
    /// spread evenly over the image, whose pixels add up to about `statisticsPixels`.
    func statisticsCrops(height: Int, width: Int) -> [(rows: Range<Int>, columns: Range<Int>)] {
        guard height * width > statisticsPixels else { return [(0..<height, 0..<width)] }
        let side = max(tile / 2, alignment * 16) / alignment * alignment
        let cropHeight = min(side, height), cropWidth = min(side, width)
        let count = max(1, statisticsPixels / (cropHeight * cropWidth))
        let rows = max(1, Int((Double(count) * Double(height) / Double(width)).squareRoot().rounded()))
        let columns = max(1, count / rows)
        var crops: [(rows: Range<Int>, columns: Range<Int>)] = []
        for row in 0..<rows {
            for column in 0..<columns {
                let top = rows == 1 ? (height - cropHeight) / 2 : (height - cropHeight) * row / (rows - 1)
                let left = columns == 1 ? (width - cropWidth) / 2 : (width - cropWidth) * column / (columns - 1)
                let alignedTop = top / alignment * alignment, alignedLeft = left / alignment * alignment
                crops.append((alignedTop..<(alignedTop + cropHeight), alignedLeft..<(alignedLeft + cropWidth)))
            }
        }
        return crops
    }

    func copy(_ source: Tensor, rows: Range<Int>, columns: Range<Int>, into output: Tensor, at origin: (Int, Int)) {
        let channels = source.shape[1], sourceWidth = source.shape[3], sourcePlane = source.shape[2] * sourceWidth
        let outputWidth = output.shape[3], outputPlane = output.shape[2] * outputWidth
        for channel in 0..<channels {
            for (offset, row) in rows.enumerated() {
                (output.pointer + channel * outputPlane + (origin.0 + offset) * outputWidth + origin.1)
                    .update(from: source.pointer + channel * sourcePlane + row * sourceWidth + columns.lowerBound, count: columns.count)
            }
        }
    }
}
