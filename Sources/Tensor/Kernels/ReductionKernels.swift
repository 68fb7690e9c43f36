import Foundation

/// Reductions over the middle axis of a `[outer, length, inner]` view.
public enum ReductionKernels {
    /// `output[o, i] = Σ_j input[o, j, i]`.
    public static func sum(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, outer: Int, length: Int, inner: Int
    ) {
        if inner == 1 {
            Parallel.forEachRange(outer, minimumPerWorker: Swift.max(1, (1 << 15) / Swift.max(length, 1))) { range in
                for row in range { output[row] = Float(ElementwiseKernels.sum(input + row * length, count: length)) }
            }
            return
        }
        Parallel.forEachRange(outer, minimumPerWorker: Swift.max(1, (1 << 15) / Swift.max(length * inner, 1))) { range in
            for row in range {
                let destination = output + row * inner
                destination.update(repeating: 0, count: inner)
                for step in 0..<length {
                    let source = input + (row * length + step) * inner
                    for index in 0..<inner { destination[index] += source[index] }
                }
            }
        }
    }

    /// `output[o, i] = max_j input[o, j, i]` and the argmax `j` (first on ties).
    public static func max(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>,
        outer: Int, length: Int, inner: Int
    ) {
        for row in 0..<outer {
            let destination = output + row * inner
            let destinationIndices = indices + row * inner
            let first = input + row * length * inner
            for index in 0..<inner { destination[index] = first[index]; destinationIndices[index] = 0 }
            for step in 1..<Swift.max(length, 1) {
                let source = input + (row * length + step) * inner
                for index in 0..<inner where source[index] > destination[index] || source[index].isNaN {
                    destination[index] = source[index]
                    destinationIndices[index] = Int32(step)
                }
            }
        }
    }
}

/// Copies between strided layouts (permute, concatenate, slice).
public enum CopyKernels {
    /// Writes `input` (with `sourceStrides` per output dimension) into contiguous `output` of `shape`.
    public static func gather(
        _ input: UnsafePointer<Float>, sourceStrides: [Int], _ output: UnsafeMutablePointer<Float>, shape: [Int]
    ) {
        ElementwiseKernels.broadcastMap(input, firstStrides: sourceStrides, input, secondStrides: sourceStrides,
                                        output, shape: shape) { value, _ in value }
    }

    /// Copies `outer` blocks of `sourceBlock` floats into blocks of `destinationBlock` floats at `destinationOffset`.
    public static func copyBlocks(
        _ source: UnsafePointer<Float>, sourceBlock: Int, _ destination: UnsafeMutablePointer<Float>,
        destinationBlock: Int, destinationOffset: Int, outer: Int
    ) {
        for row in 0..<outer {
            (destination + row * destinationBlock + destinationOffset).update(from: source + row * sourceBlock,
                                                                             count: sourceBlock)
        }
    }
}
