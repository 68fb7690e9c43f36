import Foundation

extension Tensor {
    /// Matrix product `op(self) · op(other)` over the last two dimensions.
    ///
    /// Shapes: `[…, m, k] · […, k, n] → […, m, n]`. Leading (batch) dimensions must match, or one side
    /// may be a plain matrix shared by every batch. `transposeSelf`/`transposeOther` use the transpose
    /// of the last two dimensions without copying. Matches `torch.matmul`.
    public func matmul(_ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false) -> Tensor {
        precondition(rank >= 2 && other.rank >= 2, "matmul needs matrices, got \(shape) and \(other.shape)")
        let rowsA = shape[rank - 2], columnsA = shape[rank - 1]
        let rowsB = other.shape[other.rank - 2], columnsB = other.shape[other.rank - 1]
        let m = transposeSelf ? columnsA : rowsA
        let k = transposeSelf ? rowsA : columnsA
        let kOther = transposeOther ? columnsB : rowsB
        let n = transposeOther ? rowsB : columnsB
        precondition(k == kOther, "matmul inner dimensions differ: \(shape) and \(other.shape)")
        let batchA = Array(shape.dropLast(2)), batchB = Array(other.shape.dropLast(2))
        precondition(batchA == batchB || batchA.isEmpty || batchB.isEmpty,
                     "matmul batch dimensions differ: \(shape) and \(other.shape)")
        let batchShape = batchA.isEmpty ? batchB : batchA
        let batch = batchShape.reduce(1, *)
        let output = Tensor(uninitializedShape: batchShape + [m, n])
        let strideA = batchA.isEmpty ? 0 : rowsA * columnsA
        let strideB = batchB.isEmpty ? 0 : rowsB * columnsB
        for index in 0..<batch {
            GEMMKernels.multiply(transposeA: transposeSelf, transposeB: transposeOther, m: m, n: n, k: k,
                                 a: pointer + index * strideA, lda: columnsA,
                                 b: other.pointer + index * strideB, ldb: columnsB,
                                 c: output.pointer + index * m * n, ldc: n)
        }
        let first = self
        return Tensor.record(output, "matmul", inputs: [self, other], differentiable: true) { gradient in
            var gradientFirst: Tensor?
            var gradientOther: Tensor?
            if first.needsGradient {
                gradientFirst = transposeSelf
                    ? other.matmul(gradient, transposeSelf: transposeOther, transposeOther: true)
                    : gradient.matmul(other, transposeOther: !transposeOther)
                gradientFirst = gradientFirst!.summed(toShape: first.shape)
            }
            if other.needsGradient {
                gradientOther = transposeOther
                    ? gradient.matmul(first, transposeSelf: true, transposeOther: transposeSelf)
                    : first.matmul(gradient, transposeSelf: !transposeSelf)
                gradientOther = gradientOther!.summed(toShape: other.shape)
            }
            return [gradientFirst, gradientOther]
        }
    }

    /// Fully connected layer `x·Wᵀ + b` (torch.nn.functional.linear).
    ///
    /// Shapes: input `[…, inFeatures]`, weight `[outFeatures, inFeatures]`, bias `[outFeatures]`,
    /// output `[…, outFeatures]`.
    public static func linear(_ input: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        let inFeatures = weight.shape[1]
        precondition(input.shape.last == inFeatures, "linear input \(input.shape) for weight \(weight.shape)")
        let rows = input.reshaped([-1, inFeatures])
        var output = rows.matmul(weight, transposeOther: true)
        if let bias { output = output + bias }
        return output.reshaped(Array(input.shape.dropLast()) + [weight.shape[0]])
    }
}
