import Foundation
import Tensor

/// Errors from loading parameters into a module.
public enum ModuleError: Error, CustomStringConvertible, Equatable {
    /// Keys the module has but the state dictionary lacks.
    case missingKeys([String])
    /// Keys the state dictionary has but the module lacks.
    case unexpectedKeys([String])
    /// A key whose stored shape differs from the module's.
    case shapeMismatch(key: String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .missingKeys(let keys): return "missing keys: \(keys.prefix(10).joined(separator: ", "))\(keys.count > 10 ? " and \(keys.count - 10) more" : "")"
        case .unexpectedKeys(let keys): return "unexpected keys: \(keys.prefix(10).joined(separator: ", "))\(keys.count > 10 ? " and \(keys.count - 10) more" : "")"
        case .shapeMismatch(let key, let expected, let found): return "\(key): expected shape \(expected), found \(found)"
        }
    }
}

/// A neural-network building block with named parameters, buffers and child modules.
///
/// Names follow PyTorch's `state_dict` exactly: a child registered as `"model"` holding a ``Sequential``
/// whose item 1 is a conv exposes `model.1.weight`. Subclasses register everything in `init` and
/// override ``forward(_:)``. ``isTraining`` is a per-module flag set recursively by ``train(_:)``.
open class Module {
    /// Training mode (dropout active, batch norm uses batch statistics).
    public private(set) var isTraining = true
    private var ownParameters: [(name: String, tensor: Tensor)] = []
    private var ownBuffers: [(name: String, tensor: Tensor)] = []
    private var children: [(name: String, module: Module)] = []

    public init() {}

    /// Registers a trainable tensor under `name` (sets `requiresGrad`) and returns it.
    @discardableResult
    public func registerParameter(_ name: String, _ tensor: Tensor) -> Tensor {
        tensor.requiresGrad = true
        ownParameters.append((name, tensor))
        return tensor
    }

    /// Registers a non-trainable tensor (running statistics) under `name` and returns it.
    @discardableResult
    public func registerBuffer(_ name: String, _ tensor: Tensor) -> Tensor {
        ownBuffers.append((name, tensor))
        return tensor
    }

    /// Registers a child module under `name` and returns it.
    @discardableResult
    public func registerModule<Child: Module>(_ name: String, _ module: Child) -> Child {
        children.append((name, module))
        return module
    }

    /// The computation. Input and output shapes are documented by each subclass.
    open func forward(_ input: Tensor) -> Tensor {
        preconditionFailure("\(type(of: self)) does not implement forward")
    }

    /// Calls ``forward(_:)``.
    public func callAsFunction(_ input: Tensor) -> Tensor { forward(input) }

    /// Direct children in registration order.
    public var childModules: [(name: String, module: Module)] { children }

    /// This module and all its descendants, depth first.
    public var modules: [Module] { [self] + children.flatMap { $0.module.modules } }

    /// All parameters with dotted names, in PyTorch's `named_parameters()` order.
    public func namedParameters(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        var result = ownParameters.map { (prefix + $0.name, $0.tensor) }
        for child in children { result += child.module.namedParameters(prefix: prefix + child.name + ".") }
        return result
    }

    /// All buffers with dotted names.
    public func namedBuffers(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        var result = ownBuffers.map { (prefix + $0.name, $0.tensor) }
        for child in children { result += child.module.namedBuffers(prefix: prefix + child.name + ".") }
        return result
    }

    /// Parameters then buffers per module, recursively: the order of PyTorch's `state_dict()`.
    public func stateDictionary(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        var result = ownParameters.map { (prefix + $0.name, $0.tensor) } + ownBuffers.map { (prefix + $0.name, $0.tensor) }
        for child in children { result += child.module.stateDictionary(prefix: prefix + child.name + ".") }
        return result
    }

    /// The trainable tensors.
    public var parameters: [Tensor] { namedParameters().map(\.tensor) }

    /// Number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Copies values from `stateDictionary` into this module's parameters and buffers.
    ///
    /// - Parameter strict: when true, missing and unexpected keys are errors; otherwise they are skipped.
    /// - Throws: ``ModuleError``.
    public func load(stateDictionary: [String: Tensor], strict: Bool = true) throws {
        let own = self.stateDictionary()
        let ownNames = Set(own.map(\.name))
        if strict {
            let missing = own.map(\.name).filter { stateDictionary[$0] == nil }
            if !missing.isEmpty { throw ModuleError.missingKeys(missing) }
            let unexpected = stateDictionary.keys.filter { !ownNames.contains($0) }.sorted()
            if !unexpected.isEmpty { throw ModuleError.unexpectedKeys(unexpected) }
        }
        for (name, tensor) in own {
            guard let source = stateDictionary[name] else { continue }
            guard source.shape == tensor.shape else {
                throw ModuleError.shapeMismatch(key: name, expected: tensor.shape, found: source.shape)
            }
        }
        for (name, tensor) in own {
            if let source = stateDictionary[name] { tensor.assign(source) }
        }
    }

    /// Sets training mode on this module and all descendants.
    public func train(_ training: Bool = true) {
        isTraining = training
        for child in children { child.module.train(training) }
    }

    /// Sets evaluation mode on this module and all descendants.
    public func eval() { train(false) }

    /// Clears the gradients of every parameter.
    public func zeroGrad() { for parameter in parameters { parameter.zeroGrad() } }

    /// Freezes (false) or unfreezes (true) every parameter: a frozen module still passes gradients to its input
    /// but computes none for its own weights (the reference's `set_requires_grad`).
    public func setRequiresGradient(_ enabled: Bool) { for parameter in parameters { parameter.requiresGrad = enabled } }
}

/// Applies child modules in order; children are named `0`, `1`, … as in `torch.nn.Sequential`.
public final class Sequential: Module {
    public private(set) var layers: [Module] = []

    public init(_ layers: [Module]) {
        super.init()
        for layer in layers { append(layer) }
    }

    /// Adds a layer at the end (named by its index).
    public func append(_ layer: Module) {
        registerModule(String(layers.count), layer)
        layers.append(layer)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        var current = input
        var index = 0
        while index < layers.count {
            // Inference only: a non-affine instance norm followed by ReLU runs as one pass over memory.
            if !GradientMode.isEnabled, index + 1 < layers.count,
               let norm = layers[index] as? InstanceNorm2d, norm.weight == nil, !InstanceNormStatistics.isSharing,
               let activation = layers[index + 1] as? Activation, activation.function == .relu {
                current = current.instanceNormalizedRectified(epsilon: norm.epsilon)
                index += 2
                continue
            }
            current = layers[index](current)
            index += 1
        }
        return current
    }
}

/// Returns its input (torch.nn.Identity).
public final class Identity: Module {
    public override func forward(_ input: Tensor) -> Tensor { input }
}
