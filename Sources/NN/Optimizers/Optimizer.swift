import Foundation
import Tensor

/// A first-order optimiser over a fixed list of named parameters.
public protocol Optimizer: AnyObject {
    /// The parameters, by the names used for saved state.
    var parameters: [(name: String, tensor: Tensor)] { get }
    /// Current learning rate (schedules set it between steps).
    var learningRate: Float { get set }
    /// Number of steps taken.
    var stepCount: Int { get }
    /// Updates every parameter that has a gradient.
    func step()
    /// Called by ``step()`` with the gradients it is about to apply (parameters without one left out), which it may
    /// change in place — data-parallel training averages them over the processes here.
    var gradientReduction: ((_ gradients: [Tensor]) -> Void)? { get set }
    /// Per-parameter state tensors (moments), named `<kind>.<parameter>`, for checkpoints.
    func stateTensors() -> [(name: String, tensor: Tensor)]
    /// Restores what ``stateTensors()`` and ``stepCount`` described.
    func restore(stateTensors: [String: Tensor], stepCount: Int) throws
}

extension Optimizer {
    /// Clears every parameter's gradient.
    public func zeroGrad() { for parameter in parameters { parameter.tensor.zeroGrad() } }
}

/// Errors restoring optimiser state.
public enum OptimizerError: Error, CustomStringConvertible {
    case missingState(String)
    case shapeMismatch(String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .missingState(let name): return "optimizer state \(name) is missing from the checkpoint"
        case .shapeMismatch(let name, let expected, let found): return "optimizer state \(name): expected \(expected), found \(found)"
        }
    }
}

/// Adam (torch.optim.Adam) and, with `decoupledWeightDecay`, AdamW (torch.optim.AdamW).
///
/// Per step t: g ← ∇ (+ λ·p for Adam's L2 decay); p ← p·(1 − lr·λ) for AdamW; m ← m + (1 − β₁)(g − m);
/// v ← β₂·v + (1 − β₂)·g²; p ← p − (lr / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε) — the same float32
/// operations, in the same order, as PyTorch.
public final class Adam: Optimizer {
    public let parameters: [(name: String, tensor: Tensor)]
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    public let decoupledWeightDecay: Bool
    public private(set) var stepCount = 0
    public var gradientReduction: ((_ gradients: [Tensor]) -> Void)?
    private var firstMoments: [Tensor]
    private var secondMoments: [Tensor]

    public init(
        parameters: [(name: String, tensor: Tensor)], learningRate: Float = 1e-3, beta1: Float = 0.9,
        beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0, decoupledWeightDecay: Bool = false
    ) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
        firstMoments = parameters.map { Tensor.zeros($0.tensor.shape) }
        secondMoments = parameters.map { Tensor.zeros($0.tensor.shape) }
    }

    /// AdamW with PyTorch's default weight decay of 0.01.
    public static func adamW(
        parameters: [(name: String, tensor: Tensor)], learningRate: Float = 1e-3, beta1: Float = 0.9,
        beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.01
    ) -> Adam {
        Adam(parameters: parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
             weightDecay: weightDecay, decoupledWeightDecay: true)
    }

    public func step() {
        stepCount += 1
        let correction1 = 1 - Foundation.pow(Double(beta1), Double(stepCount))
        let correction2Root = (1 - Foundation.pow(Double(beta2), Double(stepCount))).squareRoot()
        let stepSize = Float(Double(learningRate) / correction1)
        let correction2 = Float(correction2Root)
        let (beta1, beta2, epsilon, weightDecay) = (self.beta1, self.beta2, self.epsilon, self.weightDecay)
        let decay = decoupledWeightDecay ? 1 - learningRate * weightDecay : 1
        let coupledDecay = decoupledWeightDecay ? 0 : weightDecay
        gradientReduction?(parameters.compactMap { $0.tensor.grad })
        for (index, parameter) in parameters.enumerated() {
            guard let gradient = parameter.tensor.grad else { continue }
            let p = parameter.tensor.pointer, g = gradient.pointer
            let m = firstMoments[index].pointer, v = secondMoments[index].pointer
            // The same IEEE operations per element, eight lanes at a time (memory-bound: p, g, m and v stream once).
            Parallel.forEachRange(parameter.tensor.count) { range in
                var i = range.lowerBound
                while i + 8 <= range.upperBound {
                    var grad = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
                    var weight = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
                    var first = UnsafeRawPointer(m + i).loadUnaligned(as: SIMD8<Float>.self)
                    var second = UnsafeRawPointer(v + i).loadUnaligned(as: SIMD8<Float>.self)
                    if coupledDecay != 0 { grad += coupledDecay * weight }
                    if decay != 1 { weight *= decay }
                    first += (1 - beta1) * (grad - first)
                    second = second * beta2 + (1 - beta2) * grad * grad
                    let denominator = second.squareRoot() / correction2 + epsilon
                    weight += -stepSize * first / denominator
                    UnsafeMutableRawPointer(m + i).storeBytes(of: first, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(v + i).storeBytes(of: second, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(p + i).storeBytes(of: weight, as: SIMD8<Float>.self)
                    i += 8
                }
                while i < range.upperBound {
                    var grad = g[i]
                    if coupledDecay != 0 { grad += coupledDecay * p[i] }
                    if decay != 1 { p[i] *= decay }
                    m[i] += (1 - beta1) * (grad - m[i])
                    v[i] = v[i] * beta2 + (1 - beta2) * grad * grad
                    let denominator = v[i].squareRoot() / correction2 + epsilon
                    p[i] += -stepSize * m[i] / denominator
                    i += 1
                }
            }
        }
    }

    public func stateTensors() -> [(name: String, tensor: Tensor)] {
        parameters.indices.flatMap { index in
            [("exp_avg." + parameters[index].name, firstMoments[index]),
             ("exp_avg_sq." + parameters[index].name, secondMoments[index])]
        }
    }

    public func restore(stateTensors: [String: Tensor], stepCount: Int) throws {
        for (index, parameter) in parameters.enumerated() {
            for (kind, target) in [("exp_avg.", firstMoments[index]), ("exp_avg_sq.", secondMoments[index])] {
                guard let source = stateTensors[kind + parameter.name] else { throw OptimizerError.missingState(kind + parameter.name) }
                guard source.shape == target.shape else {
                    throw OptimizerError.shapeMismatch(kind + parameter.name, expected: target.shape, found: source.shape)
                }
                target.assign(source)
            }
        }
        self.stepCount = stepCount
    }
}

/// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD).
public final class SGD: Optimizer {
    public let parameters: [(name: String, tensor: Tensor)]
    public var learningRate: Float
    public let momentum: Float
    public let dampening: Float
    public let weightDecay: Float
    public let nesterov: Bool
    public private(set) var stepCount = 0
    public var gradientReduction: ((_ gradients: [Tensor]) -> Void)?
    private var buffers: [Tensor]

    public init(parameters: [(name: String, tensor: Tensor)], learningRate: Float, momentum: Float = 0,
                dampening: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        buffers = parameters.map { Tensor.zeros($0.tensor.shape) }
    }

    public func step() {
        let first = stepCount == 0
        stepCount += 1
        let (learningRate, momentum, dampening, weightDecay, nesterov) =
            (self.learningRate, self.momentum, self.dampening, self.weightDecay, self.nesterov)
        gradientReduction?(parameters.compactMap { $0.tensor.grad })
        for (index, parameter) in parameters.enumerated() {
            guard let gradient = parameter.tensor.grad else { continue }
            let p = parameter.tensor.pointer, g = gradient.pointer, buffer = buffers[index].pointer
            for i in 0..<parameter.tensor.count {
                var direction = g[i] + weightDecay * p[i]
                if momentum != 0 {
                    buffer[i] = first ? direction : momentum * buffer[i] + (1 - dampening) * direction
                    direction = nesterov ? direction + momentum * buffer[i] : buffer[i]
                }
                p[i] -= learningRate * direction
            }
        }
    }

    public func stateTensors() -> [(name: String, tensor: Tensor)] {
        parameters.indices.map { ("momentum_buffer." + parameters[$0].name, buffers[$0]) }
    }

    public func restore(stateTensors: [String: Tensor], stepCount: Int) throws {
        for (index, parameter) in parameters.enumerated() {
            guard let source = stateTensors["momentum_buffer." + parameter.name] else {
                throw OptimizerError.missingState("momentum_buffer." + parameter.name)
            }
            buffers[index].assign(source)
        }
        self.stepCount = stepCount
    }
}
