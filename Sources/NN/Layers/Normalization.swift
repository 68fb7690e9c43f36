import Foundation
import Tensor

/// Instance normalisation (torch.nn.InstanceNorm2d, track_running_stats = false) of `[N, C, H, W]`.
/// With `affine`, parameters `weight [C]` (ones) and `bias [C]` (zeros).
public final class InstanceNorm2d: Module {
    public let weight: Tensor?
    public let bias: Tensor?
    public let epsilon: Float

    public init(channels: Int, affine: Bool = false, epsilon: Float = 1e-5) {
        self.epsilon = epsilon
        weight = affine ? Tensor.ones([channels]) : nil
        bias = affine ? Tensor.zeros([channels]) : nil
        super.init()
        if let weight { registerParameter("weight", weight) }
        if let bias { registerParameter("bias", bias) }
    }

    public override func forward(_ input: Tensor) -> Tensor {
        input.instanceNormalized(weight: weight, bias: bias, epsilon: epsilon)
    }
}

/// Batch normalisation (torch.nn.BatchNorm2d) of `[N, C, …]`: `weight`, `bias`, and buffers
/// `running_mean`, `running_var`, `num_batches_tracked`. Training mode uses and updates batch statistics.
public final class BatchNorm2d: Module {
    public let weight: Tensor?
    public let bias: Tensor?
    public let runningMean: Tensor
    public let runningVariance: Tensor
    public let batchesTracked: Tensor
    public let momentum: Float
    public let epsilon: Float

    public init(channels: Int, affine: Bool = true, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        self.momentum = momentum
        self.epsilon = epsilon
        weight = affine ? Tensor.ones([channels]) : nil
        bias = affine ? Tensor.zeros([channels]) : nil
        runningMean = Tensor.zeros([channels])
        runningVariance = Tensor.ones([channels])
        batchesTracked = Tensor.zeros([])
        super.init()
        if let weight { registerParameter("weight", weight) }
        if let bias { registerParameter("bias", bias) }
        registerBuffer("running_mean", runningMean)
        registerBuffer("running_var", runningVariance)
        registerBuffer("num_batches_tracked", batchesTracked)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        if isTraining { batchesTracked.pointer[0] += 1 }
        return input.batchNormalized(runningMean: runningMean, runningVariance: runningVariance, weight: weight,
                                     bias: bias, training: isTraining, momentum: momentum, epsilon: epsilon)
    }
}

/// Group normalisation (torch.nn.GroupNorm) of `[N, C, …]`; `weight [C]`, `bias [C]` when affine.
public final class GroupNorm: Module {
    public let groups: Int
    public let weight: Tensor?
    public let bias: Tensor?
    public let epsilon: Float

    public init(groups: Int, channels: Int, affine: Bool = true, epsilon: Float = 1e-5) {
        precondition(channels % groups == 0, "\(channels) channels do not split into \(groups) groups")
        self.groups = groups
        self.epsilon = epsilon
        weight = affine ? Tensor.ones([channels]) : nil
        bias = affine ? Tensor.zeros([channels]) : nil
        super.init()
        if let weight { registerParameter("weight", weight) }
        if let bias { registerParameter("bias", bias) }
    }

    public override func forward(_ input: Tensor) -> Tensor {
        input.groupNormalized(groups: groups, weight: weight, bias: bias, epsilon: epsilon)
    }
}

/// Layer normalisation (torch.nn.LayerNorm) over trailing `normalizedShape`; `weight`, `bias` of that shape.
public final class LayerNorm: Module {
    public let normalizedShape: [Int]
    public let weight: Tensor?
    public let bias: Tensor?
    public let epsilon: Float

    public init(normalizedShape: [Int], affine: Bool = true, epsilon: Float = 1e-5) {
        self.normalizedShape = normalizedShape
        self.epsilon = epsilon
        weight = affine ? Tensor.ones(normalizedShape) : nil
        bias = affine ? Tensor.zeros(normalizedShape) : nil
        super.init()
        if let weight { registerParameter("weight", weight) }
        if let bias { registerParameter("bias", bias) }
    }

    public override func forward(_ input: Tensor) -> Tensor {
        input.layerNormalized(normalizedShape: normalizedShape, weight: weight, bias: bias, epsilon: epsilon)
    }
}
