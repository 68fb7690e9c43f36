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

    /// Normalises with the input's own statistics, or inside ``InstanceNormStatistics/sharing(_:)`` with the shared
    /// ones (the module itself is never changed, so other threads may run it meanwhile).
    public override func forward(_ input: Tensor) -> Tensor {
        if let shared = InstanceNormStatistics.active.value { return shared.normalize(input, layer: self) }
        return input.instanceNormalized(weight: weight, bias: bias, epsilon: epsilon)
    }
}

/// Per-layer, per-channel instance-norm statistics shared across calls (batch size 1).
///
/// In `record` mode each ``InstanceNorm2d`` normalises its input as usual and adds the input's per-channel
/// pixel count, sum and sum of squares to its layer's totals, so several crops of one image pool into
/// image-wide statistics. In `apply` mode every layer normalises with the pooled mean and (biased) variance,
/// so every tile of an image is normalised alike.
public final class InstanceNormStatistics {
    public enum Mode { case record, apply }

    /// The statistics instance norms on this thread use (nil: each input's own).
    static let active = ThreadLocal<InstanceNormStatistics?> { nil }

    /// Runs `body` with every ``InstanceNorm2d`` on this thread recording into, or normalising with, these statistics.
    public func sharing<Result>(_ body: () throws -> Result) rethrows -> Result {
        try Self.active.with(self, body)
    }

    /// Whether statistics are being shared on this thread.
    public static var isSharing: Bool { active.value != nil }

    public var mode: Mode = .record
    private var totals: [ObjectIdentifier: (count: Double, sum: [Double], squares: [Double])] = [:]
    private var pooled: [ObjectIdentifier: (mean: Tensor, variance: Tensor)] = [:]

    public init() {}

    /// Number of layers with recorded statistics.
    public var layerCount: Int { totals.count }

    func normalize(_ input: Tensor, layer: InstanceNorm2d) -> Tensor {
        precondition(input.shape[0] == 1, "shared instance-norm statistics need batch size 1")
        let key = ObjectIdentifier(layer)
        switch mode {
        case .record:
            let channels = input.shape[1], plane = input.count / channels
            var entry = totals[key] ?? (0, [Double](repeating: 0, count: channels), [Double](repeating: 0, count: channels))
            for channel in 0..<channels {
                let start = input.pointer + channel * plane
                entry.sum[channel] += ElementwiseKernels.sum(start, count: plane)
                entry.squares[channel] += ElementwiseKernels.dot(start, start, count: plane)
            }
            entry.count += Double(plane)
            totals[key] = entry
            pooled[key] = nil
            return input.instanceNormalized(weight: layer.weight, bias: layer.bias, epsilon: layer.epsilon)
        case .apply:
            let statistics: (mean: Tensor, variance: Tensor)
            if let cached = pooled[key] {
                statistics = cached
            } else {
                guard let entry = totals[key] else { preconditionFailure("no statistics recorded for this layer") }
                let means = entry.sum.map { $0 / entry.count }
                let variances = zip(entry.squares, means).map { Swift.max($0 / entry.count - $1 * $1, 0) }
                let shape = [1, means.count, 1, 1]
                statistics = (Tensor(shape: shape, scalars: means.map(Float.init)), Tensor(shape: shape, scalars: variances.map(Float.init)))
                pooled[key] = statistics
            }
            let normalized = (input - statistics.mean) * (statistics.variance + layer.epsilon).pow(-0.5)
            return normalized.channelAffine(weight: layer.weight, bias: layer.bias)
        }
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

/// Minibatch discrimination as the minibatch standard-deviation layer (Karras et al. 2018, ProGAN): the standard
/// deviation of each feature over the batch (biased, + 1e-8 under the root), averaged over features and positions,
/// appended as one constant channel, so the discriminator sees how varied the batch is (a collapsed generator's
/// batch is not). Input `[N, C, H, W]`, output `[N, C + 1, H, W]`; a batch of one gets a zero channel.
public final class MinibatchStandardDeviation: Module {
    public override init() { super.init() }

    public override func forward(_ input: Tensor) -> Tensor {
        let (batch, height, width) = (input.shape[0], input.shape[2], input.shape[3])
        let spread = (input.variance(axes: [0], unbiased: false) + 1e-8).sqrt().mean()
        let channel = batch > 1 ? spread.reshaped([1, 1, 1, 1]).expanded(to: [batch, 1, height, width])
            : Tensor.zeros([batch, 1, height, width])
        return Tensor.concatenated([input, channel], axis: 1)
    }
}

/// Virtual batch normalisation (Salimans et al. 2016): each example is normalised with statistics of a reference
/// batch fixed at the start of training combined with its own, μᵢ = (n·μ_ref + mᵢ)/(n + 1) and the same for the mean
/// square (per channel; mᵢ over the example's positions), so an output does not depend on the rest of its batch.
/// `weight [C]`, `bias [C]` as batch norm's. Input and output `[N, C, H, W]`.
///
/// Training calls ``collectReference(_:_:)`` with the reference batch before each step: the layers record the
/// reference statistics (recorded ops, so gradients flow through them) and normalise the reference batch with them.
/// The last statistics are kept as buffers `reference_mean`, `reference_mean_square`, `reference_count`, which an
/// exported network (or one outside a step) uses.
public final class VirtualBatchNorm2d: Module {
    public let weight: Tensor
    public let bias: Tensor
    public let epsilon: Float
    let referenceMean: Tensor, referenceMeanSquare: Tensor, referenceCount: Tensor
    /// Set during a reference pass.
    var collecting = false
    /// The statistics of this step's reference pass (recorded), or nil to use the buffers.
    var reference: (mean: Tensor, meanSquare: Tensor, count: Float)?

    public init(channels: Int, epsilon: Float = 1e-5) {
        self.epsilon = epsilon
        weight = Tensor.ones([channels])
        bias = Tensor.zeros([channels])
        referenceMean = Tensor.zeros([channels])
        referenceMeanSquare = Tensor.ones([channels])
        referenceCount = Tensor.ones([1])
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
        registerBuffer("reference_mean", referenceMean)
        registerBuffer("reference_mean_square", referenceMeanSquare)
        registerBuffer("reference_count", referenceCount)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        let channels = input.shape[1]
        let square = input * input
        let mean: Tensor, meanSquare: Tensor
        if collecting {
            // The reference batch: its own statistics over batch and positions.
            let referenceMean = input.mean(axes: [0, 2, 3]), referenceSquare = square.mean(axes: [0, 2, 3])
            reference = (referenceMean, referenceSquare, Float(input.shape[0]))
            withoutGradient {
                self.referenceMean.assign(referenceMean)
                self.referenceMeanSquare.assign(referenceSquare)
                self.referenceCount.fill(Float(input.shape[0]))
            }
            mean = referenceMean.reshaped([1, channels, 1, 1])
            meanSquare = referenceSquare.reshaped([1, channels, 1, 1])
        } else {
            let stored = reference ?? (referenceMean, referenceMeanSquare, referenceCount.scalars[0])
            let count = stored.count
            mean = (stored.mean.reshaped([1, channels, 1, 1]) * count + input.mean(axes: [2, 3], keepingDimensions: true)) / (count + 1)
            meanSquare = (stored.meanSquare.reshaped([1, channels, 1, 1]) * count + square.mean(axes: [2, 3], keepingDimensions: true)) / (count + 1)
        }
        let variance = (meanSquare - mean * mean).clamped(min: 0)
        return ((input - mean) * (variance + epsilon).pow(-0.5)).channelAffine(weight: weight, bias: bias)
    }

    /// Runs `network` on `batch` as the reference pass of every virtual batch norm in it; until ``endStep(_:)`` their
    /// forwards use these statistics. Does nothing for a network without one.
    public static func collectReference(_ network: Module, _ batch: Tensor) {
        let layers = network.modules.compactMap { $0 as? VirtualBatchNorm2d }
        guard !layers.isEmpty else { return }
        for layer in layers { layer.collecting = true }
        _ = network(batch)
        for layer in layers { layer.collecting = false }
    }

    /// Drops the step's recorded reference statistics (the buffers keep their values).
    public static func endStep(_ network: Module) {
        for case let layer as VirtualBatchNorm2d in network.modules { layer.reference = nil }
    }
}
