import Foundation

extension Tensor {
    /// Sizes of the `[outer, length, inner]` view around `axis`.
    func splitAround(_ axis: Int) -> (outer: Int, length: Int, inner: Int) {
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        return (outer, shape[axis], inner)
    }

    /// Sum over `axes`. With `keepingDimensions` the reduced axes stay as size 1.
    public func sum(axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        let resolved = Array(Set(axes.map(normalizedAxis))).sorted()
        var keptShape = shape
        for axis in resolved { keptShape[axis] = 1 }
        let finalShape = keepingDimensions ? keptShape : shape.enumerated().filter { !resolved.contains($0.offset) }.map(\.element)
        var current = self.detached()
        for axis in resolved.reversed() {
            let (outer, length, inner) = current.splitAround(axis)
            var reducedShape = current.shape
            reducedShape[axis] = 1
            let output = Tensor(uninitializedShape: reducedShape)
            ReductionKernels.sum(current.pointer, output.pointer, outer: outer, length: length, inner: inner)
            current = output
        }
        let output = current.reshaped(finalShape).detached()
        let inputShape = shape
        return Tensor.record(output, "sum", inputs: [self], differentiable: true) { gradient in
            [gradient.reshaped(keptShape).expanded(to: inputShape)]
        }
    }

    /// Sum of all elements (shape `[]`).
    public func sum() -> Tensor { sum(axes: Array(0..<rank)) }

    /// Mean over `axes`.
    public func mean(axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        let resolved = Set(axes.map(normalizedAxis))
        let reducedCount = resolved.reduce(1) { $0 * shape[$1] }
        return sum(axes: axes, keepingDimensions: keepingDimensions) * (1 / Float(Swift.max(reducedCount, 1)))
    }

    /// Mean of all elements (shape `[]`).
    public func mean() -> Tensor { mean(axes: Array(0..<rank)) }

    /// Variance over `axes`; `unbiased` divides by n − 1 (torch.var's default).
    public func variance(axes: [Int], unbiased: Bool = true, keepingDimensions: Bool = false) -> Tensor {
        let resolved = Set(axes.map(normalizedAxis))
        let reducedCount = resolved.reduce(1) { $0 * shape[$1] }
        let deviations = self - mean(axes: axes, keepingDimensions: true)
        let divisor = Float(Swift.max(reducedCount - (unbiased ? 1 : 0), 1))
        return deviations.pow(2).sum(axes: axes, keepingDimensions: keepingDimensions) * (1 / divisor)
    }

    /// Maximum along `axis`; the gradient flows to the first maximal element.
    public func max(axis: Int, keepingDimensions: Bool = false) -> Tensor {
        let axis = normalizedAxis(axis)
        let (outer, length, inner) = splitAround(axis)
        var keptShape = shape
        keptShape[axis] = 1
        let output = Tensor(uninitializedShape: keptShape)
        let indices = UnsafeMutablePointer<Int32>.allocate(capacity: Swift.max(outer * inner, 1))
        ReductionKernels.max(pointer, output.pointer, indices: indices, outer: outer, length: length, inner: inner)
        var finalShape = shape
        if keepingDimensions { finalShape[axis] = 1 } else { finalShape.remove(at: axis) }
        let result = output.reshaped(finalShape).detached()
        let inputShape = shape
        let savedIndices = Array(UnsafeBufferPointer(start: indices, count: outer * inner))
        indices.deallocate()
        return Tensor.record(result, "max", inputs: [self]) { gradient in
            let input = Tensor.zeros(inputShape)
            for row in 0..<outer {
                for index in 0..<inner {
                    let step = Int(savedIndices[row * inner + index])
                    input.pointer[(row * length + step) * inner + index] = gradient.pointer[row * inner + index]
                }
            }
            return [input]
        }
    }

    /// Largest element (shape `[]`).
    public func max() -> Tensor { reshaped([count]).max(axis: 0) }
}
