import Foundation

extension Tensor {
    /// The same elements under a new shape (a view). One dimension may be −1 (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[inferred] = count / known
        }
        precondition(Tensor.elementCount(resolved) == count, "cannot reshape \(shape) to \(newShape)")
        if resolved == shape && gradientNode == nil { return self }
        let output = Tensor(shape: resolved, storage: storage, offset: offset)
        let inputShape = shape
        return Tensor.record(output, "reshape", inputs: [self], differentiable: true) { gradient in [gradient.reshaped(inputShape)] }
    }

    /// Flattens dimensions `startAxis...` into one.
    public func flattened(startAxis: Int = 1) -> Tensor {
        let start = normalizedAxis(startAxis)
        return reshaped(Array(shape[..<start]) + [shape[start...].reduce(1, *)])
    }

    /// Reorders dimensions: output dimension `i` is input dimension `axes[i]` (torch.permute).
    public func permuted(_ axes: [Int]) -> Tensor {
        precondition(axes.sorted() == Array(0..<rank), "invalid permutation \(axes) for rank \(rank)")
        if axes == Array(0..<rank) { return self }
        var contiguousStrides = [Int](repeating: 1, count: rank)
        for index in stride(from: rank - 2, through: 0, by: -1) {
            contiguousStrides[index] = contiguousStrides[index + 1] * shape[index + 1]
        }
        let outputShape = axes.map { shape[$0] }
        let sourceStrides = axes.map { contiguousStrides[$0] }
        let output = Tensor(uninitializedShape: outputShape)
        CopyKernels.gather(pointer, sourceStrides: sourceStrides, output.pointer, shape: outputShape)
        var inverse = [Int](repeating: 0, count: rank)
        for (index, axis) in axes.enumerated() { inverse[axis] = index }
        return Tensor.record(output, "permute", inputs: [self], differentiable: true) { gradient in [gradient.permuted(inverse)] }
    }

    /// Swaps two dimensions.
    public func transposed(_ first: Int = -2, _ second: Int = -1) -> Tensor {
        var axes = Array(0..<rank)
        axes.swapAt(normalizedAxis(first), normalizedAxis(second))
        return permuted(axes)
    }

    /// Joins tensors along `axis`; all other dimensions must agree.
    public static func concatenated(_ tensors: [Tensor], axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concatenate of no tensors")
        let axis = tensors[0].normalizedAxis(axis)
        var outputShape = tensors[0].shape
        outputShape[axis] = 0
        for tensor in tensors {
            var other = tensor.shape
            other[axis] = 0
            precondition(other == outputShape.enumerated().map { $0.offset == axis ? 0 : $0.element },
                         "concatenate \(tensor.shape) with \(tensors[0].shape) along \(axis)")
            outputShape[axis] += tensor.shape[axis]
        }
        let output = Tensor(uninitializedShape: outputShape)
        let (outer, total, inner) = output.splitAround(axis)
        var position = 0
        for tensor in tensors {
            let length = tensor.shape[axis]
            CopyKernels.copyBlocks(tensor.pointer, sourceBlock: length * inner, output.pointer,
                                   destinationBlock: total * inner, destinationOffset: position * inner, outer: outer)
            position += length
        }
        let lengths = tensors.map { $0.shape[axis] }
        return record(output, "concatenate", inputs: tensors, differentiable: true) { gradient in
            var start = 0
            return lengths.map { length in
                defer { start += length }
                return gradient.sliced(axis: axis, start..<(start + length))
            }
        }
    }

    /// Elements `range` along `axis`. A view when `axis` is 0, a copy otherwise.
    public func sliced(axis: Int, _ range: Range<Int>) -> Tensor {
        let axis = normalizedAxis(axis)
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[axis], "slice \(range) of \(shape) axis \(axis)")
        var outputShape = shape
        outputShape[axis] = range.count
        let (outer, length, inner) = splitAround(axis)
        let output: Tensor
        if outer == 1 {
            output = Tensor(shape: outputShape, storage: storage, offset: offset + range.lowerBound * inner)
        } else {
            output = Tensor(uninitializedShape: outputShape)
            for row in 0..<outer {
                (output.pointer + row * range.count * inner).update(
                    from: pointer + (row * length + range.lowerBound) * inner, count: range.count * inner)
            }
        }
        let inputShape = shape
        let secondOrder = { (gradient: Tensor) -> [Tensor?] in
            // Zeros around the gradient along the axis, in recorded ops.
            var before = inputShape, after = inputShape
            before[axis] = range.lowerBound
            after[axis] = length - range.upperBound
            let parts = [before[axis] > 0 ? Tensor.zeros(before) : nil, gradient, after[axis] > 0 ? Tensor.zeros(after) : nil]
            return [Tensor.concatenated(parts.compactMap { $0 }, axis: axis)]
        }
        return Tensor.record(output, "slice", inputs: [self], secondOrder: secondOrder) { gradient in
            let input = Tensor.zeros(inputShape)
            CopyKernels.copyBlocks(gradient.pointer, sourceBlock: range.count * inner, input.pointer,
                                   destinationBlock: length * inner, destinationOffset: range.lowerBound * inner,
                                   outer: outer)
            return [input]
        }
    }

    /// Splits along `axis` into pieces of the given sizes (they must add up to the dimension).
    public func split(sizes: [Int], axis: Int) -> [Tensor] {
        let axis = normalizedAxis(axis)
        precondition(sizes.reduce(0, +) == shape[axis], "split sizes \(sizes) for dimension \(shape[axis])")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return sliced(axis: axis, start..<(start + size))
        }
    }

    /// Splits along `axis` into `parts` equal pieces.
    public func chunked(_ parts: Int, axis: Int) -> [Tensor] {
        let length = shape[normalizedAxis(axis)]
        precondition(parts > 0 && length % parts == 0, "cannot split \(length) into \(parts) equal parts")
        return split(sizes: Array(repeating: length / parts, count: parts), axis: axis)
    }
}

extension Tensor {
    /// The entries at `indices` along `axis`, in that order (torch.index_select); indices may repeat. The gradient
    /// adds back into the selected positions.
    public func selected(_ indices: [Int], axis: Int) -> Tensor {
        let axis = normalizedAxis(axis)
        let (outer, length, inner) = splitAround(axis)
        precondition(indices.allSatisfy { $0 >= 0 && $0 < length }, "index out of range for axis \(axis) of \(shape)")
        var outputShape = shape
        outputShape[axis] = indices.count
        let output = Tensor(uninitializedShape: outputShape)
        for row in 0..<outer {
            for (position, index) in indices.enumerated() {
                (output.pointer + (row * indices.count + position) * inner).update(from: pointer + (row * length + index) * inner, count: inner)
            }
        }
        let inputShape = shape
        return Tensor.record(output, "index_select", inputs: [self]) { gradient in
            let result = Tensor.zeros(inputShape)
            for row in 0..<outer {
                for (position, index) in indices.enumerated() {
                    let source = gradient.pointer + (row * indices.count + position) * inner
                    let target = result.pointer + (row * length + index) * inner
                    for element in 0..<inner { target[element] += source[element] }
                }
            }
            return [result]
        }
    }
}
