import Foundation

/// Per-group statistics produced by a normalisation (used by batch norm's running averages).
public struct NormalizationStatistics {
    /// Mean per group.
    public var mean: [Float]
    /// Biased variance per group.
    public var variance: [Float]
}

extension Tensor {
    /// Normalises the `[outer, groups, length]` view of this tensor to zero mean and unit variance per group.
    func normalized(outer: Int, groups: Int, length: Int, epsilon: Float) -> (Tensor, NormalizationStatistics) {
        precondition(outer * groups * length == count, "normalisation view does not cover \(shape)")
        let output = Tensor(uninitializedShape: shape)
        var mean = [Float](repeating: 0, count: groups)
        var variance = [Float](repeating: 0, count: groups)
        var inverse = [Float](repeating: 0, count: groups)
        mean.withUnsafeMutableBufferPointer { meanBuffer in
            variance.withUnsafeMutableBufferPointer { varianceBuffer in
                inverse.withUnsafeMutableBufferPointer { inverseBuffer in
                    NormalizationKernels.normalize(
                        pointer, output.pointer, mean: meanBuffer.baseAddress!, variance: varianceBuffer.baseAddress!,
                        inverseStandardDeviation: inverseBuffer.baseAddress!, outer: outer, groups: groups,
                        length: length, epsilon: epsilon)
                }
            }
        }
        let savedOutput = output.detached()   // not `output`: that would be a retain cycle through its node
        // Second order: dx = σ⁻¹·(g − mean(g) − x̂·mean(g·x̂)) per group, with x̂ and σ recomputed in recorded ops.
        let inputShape = shape
        let secondOrder = { [self] (gradient: Tensor) -> [Tensor?] in
            let view = [outer, groups, length]
            let x = self.reshaped(view), g = gradient.reshaped(view)
            let centred = x - x.mean(axes: [0, 2], keepingDimensions: true)
            let inverse = ((centred * centred).mean(axes: [0, 2], keepingDimensions: true) + epsilon).pow(-0.5)
            let normalized = centred * inverse
            let result = inverse * (g - g.mean(axes: [0, 2], keepingDimensions: true)
                - normalized * (g * normalized).mean(axes: [0, 2], keepingDimensions: true))
            return [result.reshaped(inputShape)]
        }
        let recorded = Tensor.record(output, "normalize", inputs: [self], secondOrder: secondOrder) { gradient in
            let result = Tensor(uninitializedShape: gradient.shape)
            inverse.withUnsafeBufferPointer { inverseBuffer in
                NormalizationKernels.backward(
                    gradientOutput: gradient.pointer, normalized: savedOutput.pointer,
                    inverseStandardDeviation: inverseBuffer.baseAddress!, gradientInput: result.pointer,
                    outer: outer, groups: groups, length: length)
            }
            return [result]
        }
        return (recorded, NormalizationStatistics(mean: mean, variance: variance))
    }

    /// Multiplies by `weight` and adds `bias`, both shaped `[C]` (or nil), along dimension 1 of `[N, C, …]`.
    public func channelAffine(weight: Tensor?, bias: Tensor?) -> Tensor {
        var broadcastShape = [Int](repeating: 1, count: rank)
        broadcastShape[1] = shape[1]
        var result = self
        if let weight { result = result * weight.reshaped(broadcastShape) }
        if let bias { result = result + bias.reshaped(broadcastShape) }
        return result
    }

    /// Instance normalisation followed by ReLU in one pass over memory, for inference.
    ///
    /// Equal to `instanceNormalized(epsilon:).relu()`; records nothing, so it is only for inference mode.
    public func instanceNormalizedRectified(epsilon: Float = 1e-5) -> Tensor {
        precondition(!GradientMode.isEnabled || !needsGradient, "the fused norm+ReLU is for inference only")
        let planes = shape[0] * shape[1]
        let output = Tensor(uninitializedShape: shape)
        var scratch = [Float](repeating: 0, count: 3 * planes)
        scratch.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            NormalizationKernels.normalize(pointer, output.pointer, mean: base, variance: base + planes,
                                           inverseStandardDeviation: base + 2 * planes, outer: 1, groups: planes,
                                           length: count / Swift.max(planes, 1), epsilon: epsilon, rectify: true)
        }
        return output
    }

    /// Instance normalisation (torch.nn.functional.instance_norm without running statistics).
    ///
    /// Input `[N, C, H, W]`; each (n, c) plane is normalised by its own mean and biased variance, then
    /// scaled by `weight[C]` and shifted by `bias[C]` when given (affine = true).
    public func instanceNormalized(weight: Tensor? = nil, bias: Tensor? = nil, epsilon: Float = 1e-5) -> Tensor {
        precondition(rank >= 3, "instance norm needs [N, C, …], got \(shape)")
        let planes = shape[0] * shape[1]
        let (normalized, _) = normalized(outer: 1, groups: planes, length: count / Swift.max(planes, 1), epsilon: epsilon)
        return normalized.channelAffine(weight: weight, bias: bias)
    }

    /// Group normalisation (torch.nn.functional.group_norm): `[N, C, …]` with C divisible by `groups`.
    public func groupNormalized(groups: Int, weight: Tensor? = nil, bias: Tensor? = nil, epsilon: Float = 1e-5) -> Tensor {
        precondition(rank >= 2 && shape[1] % groups == 0, "group norm: \(shape[1]) channels in \(groups) groups")
        let rows = shape[0] * groups
        let (normalized, _) = normalized(outer: 1, groups: rows, length: count / Swift.max(rows, 1), epsilon: epsilon)
        return normalized.channelAffine(weight: weight, bias: bias)
    }

    /// Layer normalisation over the trailing dimensions `normalizedShape` (torch.nn.functional.layer_norm).
    public func layerNormalized(normalizedShape: [Int], weight: Tensor? = nil, bias: Tensor? = nil,
                                epsilon: Float = 1e-5) -> Tensor {
        precondition(Array(shape.suffix(normalizedShape.count)) == normalizedShape,
                     "layer norm shape \(normalizedShape) does not end \(shape)")
        let length = normalizedShape.reduce(1, *)
        var (result, _) = normalized(outer: 1, groups: count / Swift.max(length, 1), length: length, epsilon: epsilon)
        if let weight { result = result * weight }
        if let bias { result = result + bias }
        return result
    }

    /// Batch normalisation (torch.nn.functional.batch_norm) of `[N, C, …]`.
    ///
    /// Training: normalises with the batch's per-channel mean and biased variance and, when running
    /// buffers are given, updates them in place: `running = (1 − momentum)·running + momentum·batch`
    /// (the variance update uses the unbiased estimate). Evaluation: uses the running statistics.
    public func batchNormalized(
        runningMean: Tensor?, runningVariance: Tensor?, weight: Tensor?, bias: Tensor?,
        training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5
    ) -> Tensor {
        precondition(rank >= 2, "batch norm needs [N, C, …], got \(shape)")
        let channels = shape[1]
        if training {
            let length = count / (shape[0] * channels)
            let (normalized, statistics) = normalized(outer: shape[0], groups: channels, length: length, epsilon: epsilon)
            if let runningMean, let runningVariance {
                let total = Float(shape[0] * length)
                let correction = total > 1 ? total / (total - 1) : 1
                for channel in 0..<channels {
                    runningMean.pointer[channel] = (1 - momentum) * runningMean.pointer[channel] + momentum * statistics.mean[channel]
                    runningVariance.pointer[channel] = (1 - momentum) * runningVariance.pointer[channel]
                        + momentum * statistics.variance[channel] * correction
                }
            }
            return normalized.channelAffine(weight: weight, bias: bias)
        }
        guard let runningMean, let runningVariance else {
            preconditionFailure("batch norm in evaluation mode needs running statistics")
        }
        let inverse = Tensor(shape: [channels], scalars: (0..<channels).map {
            1 / (runningVariance.pointer[$0] + epsilon).squareRoot()
        })
        let shift = Tensor(shape: [channels], scalars: (0..<channels).map { -runningMean.pointer[$0] })
        return channelAffine(weight: nil, bias: shift).channelAffine(weight: inverse, bias: nil)
            .channelAffine(weight: weight, bias: bias)
    }
}
