import Foundation

/// Index maps and loops for padding and resampling of NCHW planes. Each op is described by, per output
/// row and column, one or two source indices with weights; forward gathers, backward scatters.
public struct AxisMap: Sendable {
    /// First source index per output coordinate (−1: contributes zero).
    public var first: [Int32]
    /// Second source index per output coordinate (−1: none).
    public var second: [Int32]
    /// Weight of `second` (the weight of `first` is 1 − this).
    public var secondWeight: [Float]

    public var count: Int { first.count }

    /// Whether every coordinate reads at most one source (padding, nearest), so rows can be copied in runs.
    public var isSingleSource: Bool { second.allSatisfy { $0 < 0 } }

    /// Maximal runs `(outputStart, sourceStart, length)` of consecutive sources; sourceStart −1 means zeros.
    public var runs: [(output: Int, source: Int, length: Int)] {
        var result: [(output: Int, source: Int, length: Int)] = []
        for (position, index) in first.enumerated() {
            let source = Int(index)
            if let last = result.last,
               (last.source < 0 && source < 0) || (last.source >= 0 && source == last.source + last.length) {
                result[result.count - 1].length += 1
            } else {
                result.append((position, source, 1))
            }
        }
        return result
    }

    /// A single-source map.
    public init(indices: [Int32]) {
        first = indices
        second = [Int32](repeating: -1, count: indices.count)
        secondWeight = [Float](repeating: 0, count: indices.count)
    }

    public init(first: [Int32], second: [Int32], secondWeight: [Float]) {
        self.first = first
        self.second = second
        self.secondWeight = secondWeight
    }
}

public enum ResamplingKernels {
    /// `output[p, y, x] = Σ rowWeight·columnWeight·input[p, row(y), column(x)]` for `planes` planes.
    public static func gather(
        _ input: UnsafePointer<Float>, inputHeight: Int, inputWidth: Int,
        _ output: UnsafeMutablePointer<Float>, rows: AxisMap, columns: AxisMap, planes: Int
    ) {
        let outputHeight = rows.count, outputWidth = columns.count
        if rows.isSingleSource && columns.isSingleSource {
            let runs = columns.runs
            Parallel.forEachRange(planes, minimumPerWorker: max(1, 65536 / max(outputHeight * outputWidth, 1))) { range in
                for plane in range {
                    let source = input + plane * inputHeight * inputWidth
                    let destination = output + plane * outputHeight * outputWidth
                    for y in 0..<outputHeight {
                        let line = destination + y * outputWidth
                        let sourceRow = Int(rows.first[y])
                        guard sourceRow >= 0 else { line.update(repeating: 0, count: outputWidth); continue }
                        let sourceLine = source + sourceRow * inputWidth
                        for run in runs {
                            if run.source < 0 {
                                (line + run.output).update(repeating: 0, count: run.length)
                            } else if run.length == 1 {
                                line[run.output] = sourceLine[run.source]
                            } else {
                                (line + run.output).update(from: sourceLine + run.source, count: run.length)
                            }
                        }
                    }
                }
            }
            return
        }
        Parallel.forEachRange(planes, minimumPerWorker: max(1, 16384 / max(outputHeight * outputWidth, 1))) { range in
            for plane in range {
                let source = input + plane * inputHeight * inputWidth
                let destination = output + plane * outputHeight * outputWidth
                for y in 0..<outputHeight {
                    let line = destination + y * outputWidth
                    let rowWeight = rows.secondWeight[y]
                    let firstRow = Int(rows.first[y]), secondRow = Int(rows.second[y])
                    for x in 0..<outputWidth {
                        let columnWeight = columns.secondWeight[x]
                        let firstColumn = Int(columns.first[x]), secondColumn = Int(columns.second[x])
                        var value: Float = 0
                        if firstRow >= 0 {
                            let sourceLine = source + firstRow * inputWidth
                            if firstColumn >= 0 { value += (1 - rowWeight) * (1 - columnWeight) * sourceLine[firstColumn] }
                            if secondColumn >= 0 { value += (1 - rowWeight) * columnWeight * sourceLine[secondColumn] }
                        }
                        if secondRow >= 0 {
                            let sourceLine = source + secondRow * inputWidth
                            if firstColumn >= 0 { value += rowWeight * (1 - columnWeight) * sourceLine[firstColumn] }
                            if secondColumn >= 0 { value += rowWeight * columnWeight * sourceLine[secondColumn] }
                        }
                        line[x] = value
                    }
                }
            }
        }
    }

    /// The adjoint of ``gather(_:inputHeight:inputWidth:_:rows:columns:planes:)``: accumulates into a zeroed input.
    public static func scatter(
        _ gradientOutput: UnsafePointer<Float>, _ gradientInput: UnsafeMutablePointer<Float>,
        inputHeight: Int, inputWidth: Int, rows: AxisMap, columns: AxisMap, planes: Int
    ) {
        let outputHeight = rows.count, outputWidth = columns.count
        gradientInput.update(repeating: 0, count: planes * inputHeight * inputWidth)
        Parallel.forEachRange(planes, minimumPerWorker: max(1, 16384 / max(outputHeight * outputWidth, 1))) { range in
            for plane in range {
                let destination = gradientInput + plane * inputHeight * inputWidth
                let source = gradientOutput + plane * outputHeight * outputWidth
                for y in 0..<outputHeight {
                    let rowWeight = rows.secondWeight[y]
                    let firstRow = Int(rows.first[y]), secondRow = Int(rows.second[y])
                    for x in 0..<outputWidth {
                        let value = source[y * outputWidth + x]
                        let columnWeight = columns.secondWeight[x]
                        let firstColumn = Int(columns.first[x]), secondColumn = Int(columns.second[x])
                        if firstRow >= 0 {
                            let line = destination + firstRow * inputWidth
                            if firstColumn >= 0 { line[firstColumn] += (1 - rowWeight) * (1 - columnWeight) * value }
                            if secondColumn >= 0 { line[secondColumn] += (1 - rowWeight) * columnWeight * value }
                        }
                        if secondRow >= 0 {
                            let line = destination + secondRow * inputWidth
                            if firstColumn >= 0 { line[firstColumn] += rowWeight * (1 - columnWeight) * value }
                            if secondColumn >= 0 { line[secondColumn] += rowWeight * columnWeight * value }
                        }
                    }
                }
            }
        }
    }

    /// Average pooling of `planes` planes (count_include_pad = true, as torch's default).
    public static func averagePool(
        _ input: UnsafePointer<Float>, inputHeight: Int, inputWidth: Int, _ output: UnsafeMutablePointer<Float>,
        outputHeight: Int, outputWidth: Int, kernel: Int, stride: Int, padding: Int, planes: Int
    ) {
        let scale = 1 / Float(kernel * kernel)
        Parallel.forEachRange(planes, minimumPerWorker: 4) { range in
            for plane in range {
                let source = input + plane * inputHeight * inputWidth
                let destination = output + plane * outputHeight * outputWidth
                for y in 0..<outputHeight {
                    for x in 0..<outputWidth {
                        var total: Float = 0
                        for ky in 0..<kernel {
                            let sourceY = y * stride - padding + ky
                            guard sourceY >= 0 && sourceY < inputHeight else { continue }
                            for kx in 0..<kernel {
                                let sourceX = x * stride - padding + kx
                                if sourceX >= 0 && sourceX < inputWidth { total += source[sourceY * inputWidth + sourceX] }
                            }
                        }
                        destination[y * outputWidth + x] = total * scale
                    }
                }
            }
        }
    }

    /// The adjoint of ``averagePool(_:inputHeight:inputWidth:_:outputHeight:outputWidth:kernel:stride:padding:planes:)``.
    public static func averagePoolBackward(
        _ gradientOutput: UnsafePointer<Float>, outputHeight: Int, outputWidth: Int,
        _ gradientInput: UnsafeMutablePointer<Float>, inputHeight: Int, inputWidth: Int,
        kernel: Int, stride: Int, padding: Int, planes: Int
    ) {
        let scale = 1 / Float(kernel * kernel)
        gradientInput.update(repeating: 0, count: planes * inputHeight * inputWidth)
        Parallel.forEachRange(planes, minimumPerWorker: 4) { range in
            for plane in range {
                let destination = gradientInput + plane * inputHeight * inputWidth
                let source = gradientOutput + plane * outputHeight * outputWidth
                for y in 0..<outputHeight {
                    for x in 0..<outputWidth {
                        let value = source[y * outputWidth + x] * scale
                        for ky in 0..<kernel {
                            let sourceY = y * stride - padding + ky
                            guard sourceY >= 0 && sourceY < inputHeight else { continue }
                            for kx in 0..<kernel {
                                let sourceX = x * stride - padding + kx
                                if sourceX >= 0 && sourceX < inputWidth { destination[sourceY * inputWidth + sourceX] += value }
                            }
                        }
                    }
                }
            }
        }
    }
}
