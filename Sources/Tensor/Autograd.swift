import Foundation

/// One recorded op on the tape: the tensors it read and how to map the output's gradient to theirs.
final class GradientNode {
    let name: String
    let inputs: [Tensor]
    /// Returns one gradient per input (nil where the input needs none), shapes matching the inputs.
    let backward: (Tensor) -> [Tensor?]

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
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
    @inline(__always)
    static func record(
        _ output: Tensor, _ name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]
    ) -> Tensor {
        guard GradientMode.isEnabled, inputs.contains(where: { $0.needsGradient }) else { return output }
        output.gradientNode = GradientNode(name: name, inputs: inputs, backward: backward)
        return output
    }

    /// Back-propagates from this tensor, accumulating into the ``grad`` of every leaf that requires it.
    ///
    /// The graph is consumed: intermediate tensors lose their gradient history (and the activations it saved) as
    /// the pass reaches them, so backward runs once per forward, as in PyTorch without `retain_graph`.
    ///
    /// - Parameter gradient: seed gradient of this tensor's shape; defaults to 1 for a scalar.
    public func backward(_ gradient: Tensor? = nil) {
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
        withoutGradient {
            // Root first; each tensor leaves `order` and drops its node once used, so saved activations are freed
            // as the pass goes (PyTorch frees a graph in its backward the same way; a second backward through it
            // reaches no leaves).
            while let tensor = order.popLast() {
                let identifier = ObjectIdentifier(tensor)
                guard let gradient = gradients.removeValue(forKey: identifier) else { continue }
                if let node = tensor.gradientNode {
                    tensor.gradientNode = nil
                    let inputGradients = node.backward(gradient)
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
                } else if tensor.requiresGrad {
                    if let existing = tensor.grad {
                        tensor.grad = existing + gradient
                    } else {
                        tensor.grad = gradient.storage === tensor.storage ? gradient.copied() : gradient
                    }
                }
            }
        }
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }
}
