import Foundation

/// One recorded op on the tape: the tensors it read and how to map the output's gradient to theirs.
final class GradientNode {
    let name: String
    let inputs: [Tensor]
    /// Returns one gradient per input (nil where the input needs none), shapes matching the inputs.
    let backward: (Tensor) -> [Tensor?]
    /// The same map written in recorded ops, so that gradients of gradients can flow through it (`createGraph`);
    /// nil when the op has none.
    let differentiableBackward: ((Tensor) -> [Tensor?])?

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?],
         differentiableBackward: ((Tensor) -> [Tensor?])?) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
        self.differentiableBackward = differentiableBackward
    }
}

/// Whether ops record themselves for autograd. Off inside ``withoutGradient(_:)`` and during backward. Per thread:
/// a data-loader thread running tensor ops neither sees nor changes the training thread's mode.
public enum GradientMode {
    static let depthDisabled = ThreadLocal<Int> { 0 }

    /// True when ops on this thread are being recorded.
    public static var isEnabled: Bool { depthDisabled.value == 0 }
}

/// Runs `body` in inference mode on this thread: nothing is recorded, so every intermediate is freed as soon as it dies.
@discardableResult
public func withoutGradient<Result>(_ body: () throws -> Result) rethrows -> Result {
    try GradientMode.depthDisabled.with(GradientMode.depthDisabled.value + 1, body)
}

extension Tensor {
    /// Attaches a tape node to `output` when recording is on and any input needs a gradient.
    ///
    /// - Parameters:
    ///   - differentiable: `backward` is itself made of recorded ops, so it also serves for gradients of gradients.
    ///   - secondOrder: otherwise, the backward written in recorded ops (nil: this op has no second-order gradient).
    @inline(__always)
    static func record(
        _ output: Tensor, _ name: String, inputs: [Tensor], differentiable: Bool = false,
        secondOrder: ((Tensor) -> [Tensor?])? = nil, backward: @escaping (Tensor) -> [Tensor?]
    ) -> Tensor {
        guard GradientMode.isEnabled, inputs.contains(where: { $0.needsGradient }) else { return output }
        output.gradientNode = GradientNode(name: name, inputs: inputs, backward: backward,
                                           differentiableBackward: differentiable ? backward : secondOrder)
        return output
    }

    /// Back-propagates from this tensor, accumulating into the ``grad`` of every leaf that requires it.
    ///
    /// The graph is consumed: intermediate tensors lose their gradient history (and the activations it saved) as
    /// the pass reaches them, so backward runs once per forward, as in PyTorch without `retain_graph`. With
    /// `createGraph` the pass is itself recorded (and the graph kept), so the accumulated gradients can be
    /// differentiated again, as `create_graph=True`; every op on the way must have a second-order backward.
    ///
    /// - Parameter gradient: seed gradient of this tensor's shape; defaults to 1 for a scalar.
    public func backward(_ gradient: Tensor? = nil, createGraph: Bool = false) {
        propagate(gradient, createGraph: createGraph) { leaf, gradient in
            guard leaf.requiresGrad else { return }
            if let existing = leaf.grad {
                leaf.grad = existing + gradient
            } else {
                leaf.grad = gradient.storage === leaf.storage ? gradient.copied() : gradient
            }
        }
    }

    /// The gradients of this tensor (seeded with `gradient`, default 1 for a scalar) with respect to the leaf tensors
    /// `inputs` (`requiresGrad`), as `torch.autograd.grad`: nothing is accumulated into ``grad`` and the graph is
    /// kept. With `createGraph` the gradients are recorded functions of the graph's inputs (a gradient penalty's
    /// gradient reaches the weights through them). An input the output does not depend on gets zeros.
    public func gradients(withRespectTo inputs: [Tensor], seed gradient: Tensor? = nil, createGraph: Bool = false) -> [Tensor] {
        precondition(inputs.allSatisfy { $0.requiresGrad && $0.gradientNode == nil }, "gradients(withRespectTo:) takes leaves with requiresGrad")
        var found: [ObjectIdentifier: Tensor] = [:]
        let wanted = Set(inputs.map(ObjectIdentifier.init))
        propagate(gradient, createGraph: createGraph, keepGraph: true) { leaf, gradient in
            let key = ObjectIdentifier(leaf)
            guard wanted.contains(key) else { return }
            found[key] = found[key].map { $0 + gradient } ?? gradient
        }
        return inputs.map { found[ObjectIdentifier($0)] ?? Tensor.zeros($0.shape) }
    }

    /// Reverse-mode accumulation from this tensor; `leaf` receives each leaf's total gradient.
    private func propagate(_ gradient: Tensor?, createGraph: Bool, keepGraph: Bool = false, leaf: (Tensor, Tensor) -> Void) {
        let seed: Tensor
        if let gradient {
            precondition(gradient.shape == shape, "seed gradient \(gradient.shape) for \(shape)")
            seed = gradient
        } else {
            precondition(count == 1, "backward() without a seed needs a scalar, got \(shape)")
            seed = Tensor(shape: shape, repeating: 1)
        }
        guard needsGradient else { return }

        // Post-order depth-first traversal gives a topological order.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (tensor, expanded) = stack.popLast() {
            if expanded { order.append(tensor); continue }
            let identifier = ObjectIdentifier(tensor)
            if visited.contains(identifier) { continue }
            visited.insert(identifier)
            stack.append((tensor, true))
            if let node = tensor.gradientNode {
                for input in node.inputs where input.needsGradient && !visited.contains(ObjectIdentifier(input)) {
                    stack.append((input, false))
                }
            }
        }

        var gradients: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
        func pass() {
            // Root first; unless the graph is kept, each tensor leaves `order` and drops its node once used, so saved
            // activations are freed as the pass goes (PyTorch frees a graph in its backward the same way; a second
            // backward through it reaches no leaves).
            while let tensor = order.popLast() {
                let identifier = ObjectIdentifier(tensor)
                guard let gradient = gradients.removeValue(forKey: identifier) else { continue }
                if let node = tensor.gradientNode {
                    if !(createGraph || keepGraph) { tensor.gradientNode = nil }
                    let inputGradients: [Tensor?]
                    if createGraph {
                        guard let differentiable = node.differentiableBackward else {
                            preconditionFailure("\(node.name) has no second-order gradient (createGraph)")
                        }
                        inputGradients = differentiable(gradient)
                    } else {
                        inputGradients = node.backward(gradient)
                    }
                    precondition(inputGradients.count == node.inputs.count, "\(node.name) backward arity")
                    for (input, inputGradient) in zip(node.inputs, inputGradients) {
                        guard let inputGradient, input.needsGradient else { continue }
                        precondition(inputGradient.shape == input.shape,
                                     "\(node.name) gradient \(inputGradient.shape) for input \(input.shape)")
                        let key = ObjectIdentifier(input)
                        if let existing = gradients[key] {
                            gradients[key] = existing + inputGradient
                        } else {
                            gradients[key] = inputGradient
                        }
                    }
                } else {
                    leaf(tensor, gradient)
                }
            }
        }
        if createGraph { pass() } else { withoutGradient(pass) }
    }

    /// Whether the op that made `tensor` can be differentiated twice (`createGraph`); true for leaves.
    public static func hasSecondOrderGradient(_ tensor: Tensor) -> Bool {
        tensor.gradientNode.map { $0.differentiableBackward != nil } ?? true
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }
}
