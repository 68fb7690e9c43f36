import Foundation
import Tensor

/// Learning-rate policies, evaluated per epoch as the reference trainers do.
public enum LearningRateSchedule: Sendable, Equatable {
    /// The CycleGAN "linear" policy: constant for `constantEpochs`, then linear decay over `decayEpochs`:
    /// factor = 1 − max(0, epoch + startEpoch − constantEpochs) / (decayEpochs + 1).
    case linearDecay(constantEpochs: Int, decayEpochs: Int, startEpoch: Int = 1)
    /// factor = gamma^⌊epoch / stepSize⌋ (torch StepLR).
    case step(stepSize: Int, gamma: Float = 0.1)
    /// Cosine annealing to `minimum` over `period` epochs (torch CosineAnnealingLR, closed form).
    case cosine(period: Int, minimum: Float = 0)
    /// The base rate throughout.
    case constant

    /// The learning rate for `epoch` (counted from 0 as torch schedulers count `last_epoch`).
    public func learningRate(base: Float, epoch: Int) -> Float {
        switch self {
        case .linearDecay(let constantEpochs, let decayEpochs, let startEpoch):
            let factor = 1 - Float(Swift.max(0, epoch + startEpoch - constantEpochs)) / Float(decayEpochs + 1)
            return base * factor
        case .step(let stepSize, let gamma):
            return base * Foundation.pow(gamma, Float(epoch / stepSize))
        case .cosine(let period, let minimum):
            return minimum + (base - minimum) * (1 + Foundation.cos(Float.pi * Float(epoch) / Float(period))) / 2
        case .constant:
            return base
        }
    }
}

/// An exponential moving average of parameters: `shadow ← decay·shadow + (1 − decay)·parameter`.
public final class ExponentialMovingAverage {
    public let decay: Float
    /// The averaged copies, by parameter name.
    public let shadows: [(name: String, tensor: Tensor)]
    private let sources: [Tensor]

    public init(parameters: [(name: String, tensor: Tensor)], decay: Float = 0.999) {
        self.decay = decay
        sources = parameters.map(\.tensor)
        shadows = parameters.map { ($0.name, $0.tensor.copied()) }
    }

    /// Moves every shadow towards its parameter.
    public func update() {
        let decay = self.decay
        for (shadow, source) in zip(shadows.map(\.tensor), sources) {
            ElementwiseKernels.map(shadow.pointer, source.pointer, shadow.pointer, count: shadow.count) { s, p in
                s - (1 - decay) * (s - p)
            }
        }
    }

    /// The averages as buffers of a training state, named `prefix + parameter name`.
    public func buffers(prefix: String) -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: shadows.map { (prefix + $0.name, $0.tensor) })
    }

    /// Restores the averages from ``buffers(prefix:)``.
    ///
    /// - Throws: ``CheckpointError/missingTensor(path:key:)`` when one is missing or of another shape.
    public func restore(buffers: [String: Tensor], prefix: String) throws {
        for shadow in shadows {
            guard let saved = buffers[prefix + shadow.name], saved.shape == shadow.tensor.shape else {
                throw CheckpointError.missingTensor(path: "the training state", key: prefix + shadow.name)
            }
            shadow.tensor.pointer.update(from: saved.pointer, count: saved.count)
        }
    }

    /// Copies the averages into the parameters of `module` (matching names).
    public func copy(into module: Module) throws {
        try module.load(stateDictionary: Dictionary(uniqueKeysWithValues: shadows.map { ($0.name, $0.tensor) }),
                        strict: false)
    }
}
