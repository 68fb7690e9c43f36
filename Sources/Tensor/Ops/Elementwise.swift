import Foundation

// MARK: - Broadcasting

extension Tensor {
    /// NumPy/PyTorch broadcasting of two shapes (aligned at the trailing dimension).
    public static func broadcastShape(_ first: [Int], _ second: [Int]) -> [Int] {
        let rank = Swift.max(first.count, second.count)
        var result = [Int](repeating: 1, count: rank)
        for index in 0..<rank {
            let a = index < rank - first.count ? 1 : first[index - (rank - first.count)]
            let b = index < rank - second.count ? 1 : second[index - (rank - second.count)]
            precondition(a == b || a == 1 || b == 1, "cannot broadcast \(first) with \(second)")
            result[index] = a == 1 ? b : a
        }
        return result
    }

    /// Element strides of this tensor seen in `target` (0 on broadcast dimensions).
    func broadcastStrides(to target: [Int]) -> [Int] {
        var strides = [Int](repeating: 0, count: target.count)
        var running = 1
        for index in Swift.stride(from: rank - 1, through: 0, by: -1) {
            let targetIndex = index + target.count - rank
            strides[targetIndex] = shape[index] == 1 ? 0 : running
            running *= shape[index]
        }
        return strides
    }

    /// Broadcasts to `target` by copying. Backward sums over the broadcast dimensions.
    public func expanded(to target: [Int]) -> Tensor {
        if target == shape { return self }
        precondition(Tensor.broadcastShape(shape, target) == target, "cannot expand \(shape) to \(target)")
        let output = Tensor(uninitializedShape: target)
        let strides = broadcastStrides(to: target)
        ElementwiseKernels.broadcastMap(pointer, firstStrides: strides, pointer, secondStrides: strides,
                                        output.pointer, shape: target) { value, _ in value }
        let sourceShape = shape
        return Tensor.record(output, "expand", inputs: [self], differentiable: true) { gradient in
            [gradient.summed(toShape: sourceShape)]
        }
    }

    /// Sums a broadcast result back down to `target` (the adjoint of ``expanded(to:)``).
    public func summed(toShape target: [Int]) -> Tensor {
        if target == shape { return self }
        let padded = [Int](repeating: 1, count: rank - target.count) + target
        var axes: [Int] = []
        for index in 0..<rank where padded[index] == 1 && shape[index] != 1 { axes.append(index) }
        let reduced = axes.isEmpty ? self : sum(axes: axes, keepingDimensions: true)
        return reduced.reshaped(target)
    }

    /// Applies a broadcasting binary function and records `backward`.
    @inline(__always)
    static func broadcastBinary(
        _ first: Tensor, _ second: Tensor, name: String, _ function: (Float, Float) -> Float,
        backward: @escaping (Tensor) -> [Tensor?]
    ) -> Tensor {
        let output: Tensor
        if first.shape == second.shape {
            output = Tensor(uninitializedShape: first.shape)
            ElementwiseKernels.map(first.pointer, second.pointer, output.pointer, count: output.count, function)
        } else {
            let shape = broadcastShape(first.shape, second.shape)
            output = Tensor(uninitializedShape: shape)
            ElementwiseKernels.broadcastMap(
                first.pointer, firstStrides: first.broadcastStrides(to: shape),
                second.pointer, secondStrides: second.broadcastStrides(to: shape),
                output.pointer, shape: shape, function)
        }
        return record(output, name, inputs: [first, second], differentiable: true, backward: backward)
    }
}

// MARK: - Arithmetic

extension Tensor {
    /// Element-wise sum with broadcasting.
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        broadcastBinary(lhs, rhs, name: "add", +) { gradient in
            [gradient.summed(toShape: lhs.shape), gradient.summed(toShape: rhs.shape)]
        }
    }

    /// Element-wise difference with broadcasting.
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
        broadcastBinary(lhs, rhs, name: "subtract", -) { gradient in
            [gradient.summed(toShape: lhs.shape), rhs.needsGradient ? (-gradient).summed(toShape: rhs.shape) : nil]
        }
    }

    /// Element-wise product with broadcasting.
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor {
        broadcastBinary(lhs, rhs, name: "multiply", *) { gradient in
            [lhs.needsGradient ? (gradient * rhs).summed(toShape: lhs.shape) : nil,
             rhs.needsGradient ? (gradient * lhs).summed(toShape: rhs.shape) : nil]
        }
    }

    /// Element-wise quotient with broadcasting.
    public static func / (lhs: Tensor, rhs: Tensor) -> Tensor {
        broadcastBinary(lhs, rhs, name: "divide", /) { gradient in
            [lhs.needsGradient ? (gradient / rhs).summed(toShape: lhs.shape) : nil,
             rhs.needsGradient ? (-(gradient * lhs) / (rhs * rhs)).summed(toShape: rhs.shape) : nil]
        }
    }

    /// `scale * self + shift`, element-wise.
    public func affine(scale: Float, shift: Float) -> Tensor {
        let output = Tensor(uninitializedShape: shape)
        ElementwiseKernels.map(pointer, output.pointer, count: count) { scale * $0 + shift }
        return Tensor.record(output, "affine", inputs: [self], differentiable: true) { gradient in [gradient.affine(scale: scale, shift: 0)] }
    }

    public static prefix func - (operand: Tensor) -> Tensor { operand.affine(scale: -1, shift: 0) }
    public static func + (lhs: Tensor, rhs: Float) -> Tensor { lhs.affine(scale: 1, shift: rhs) }
    public static func + (lhs: Float, rhs: Tensor) -> Tensor { rhs.affine(scale: 1, shift: lhs) }
    public static func - (lhs: Tensor, rhs: Float) -> Tensor { lhs.affine(scale: 1, shift: -rhs) }
    public static func - (lhs: Float, rhs: Tensor) -> Tensor { rhs.affine(scale: -1, shift: lhs) }
    public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs.affine(scale: rhs, shift: 0) }
    public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs.affine(scale: lhs, shift: 0) }
    public static func / (lhs: Tensor, rhs: Float) -> Tensor { lhs.affine(scale: 1 / rhs, shift: 0) }
}

// MARK: - Unary functions

extension Tensor {
    /// Applies `function` element-wise; `derivative(x, y)` gives dy/dx for the backward pass, and
    /// `secondDerivative(x, y)` (when given) d²y/dx² for gradients of gradients.
    @inline(__always)
    func unary(
        _ name: String, expensive: Bool = false, _ function: (Float) -> Float,
        derivative: @escaping (_ input: Float, _ output: Float) -> Float,
        secondDerivative: ((_ input: Float, _ output: Float) -> Float)? = nil
    ) -> Tensor {
        let output = Tensor(uninitializedShape: shape)
        if expensive {
            ElementwiseKernels.mapInParallel(pointer, output.pointer, count: count, function)
        } else {
            ElementwiseKernels.map(pointer, output.pointer, count: count, function)
        }
        // The closure keeps a detached view: capturing `output` itself would make output → node → closure → output
        // a retain cycle and leak every recorded graph.
        let savedOutput = output.detached()
        // Second order: gradient · f′(x) with f′(x) recorded as an op of x whose own derivative is f″(x).
        let secondOrder: ((Tensor) -> [Tensor?])? = secondDerivative.map { second in
            { [self] gradient in
                let slope = Tensor(uninitializedShape: self.shape)
                ElementwiseKernels.map(self.pointer, savedOutput.pointer, slope.pointer, count: slope.count) { x, y in derivative(x, y) }
                let recordedSlope = Tensor.record(slope, name + "_derivative", inputs: [self]) { [self] upstream in
                    let result = Tensor(uninitializedShape: upstream.shape)
                    ElementwiseKernels.map(self.pointer, savedOutput.pointer, upstream.pointer, result.pointer,
                                           count: result.count) { x, y, g in g * second(x, y) }
                    return [result]
                }
                return [gradient * recordedSlope]
            }
        }
        return Tensor.record(output, name, inputs: [self], secondOrder: secondOrder) { [self] gradient in
            let result = Tensor(uninitializedShape: gradient.shape)
            ElementwiseKernels.map(self.pointer, savedOutput.pointer, gradient.pointer, result.pointer,
                                   count: result.count) { x, y, g in g * derivative(x, y) }
            return [result]
        }
    }

    /// e^x.
    public func exp() -> Tensor { unary("exp", expensive: true, { Foundation.exp($0) }, derivative: { _, y in y }, secondDerivative: { _, y in y }) }
    /// Natural logarithm.
    public func log() -> Tensor { unary("log", expensive: true, { Foundation.log($0) }, derivative: { x, _ in 1 / x }, secondDerivative: { x, _ in -1 / (x * x) }) }
    /// Square root.
    public func sqrt() -> Tensor { unary("sqrt", { $0.squareRoot() }, derivative: { _, y in 0.5 / y }, secondDerivative: { x, y in -0.25 / (x * y) }) }
    /// |x|; the derivative at 0 is 0 (as PyTorch's sign).
    public func abs() -> Tensor {
        unary("abs", { Swift.abs($0) }, derivative: { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) }, secondDerivative: { _, _ in 0 })
    }
    /// x^exponent for a constant exponent.
    public func pow(_ exponent: Float) -> Tensor {
        if exponent == 2 { return unary("square", { $0 * $0 }, derivative: { x, _ in 2 * x }, secondDerivative: { _, _ in 2 }) }
        return unary("pow", expensive: true, { Foundation.pow($0, exponent) },
                     derivative: { x, _ in exponent * Foundation.pow(x, exponent - 1) },
                     secondDerivative: { x, _ in exponent * (exponent - 1) * Foundation.pow(x, exponent - 2) })
    }
    /// Clamps into `[minimum, maximum]`; gradient 1 inside, 0 outside (as torch.clamp).
    public func clamped(min minimum: Float = -.infinity, max maximum: Float = .infinity) -> Tensor {
        unary("clamp", { Swift.min(Swift.max($0, minimum), maximum) },
              derivative: { x, _ in (x >= minimum && x <= maximum) ? 1 : 0 }, secondDerivative: { _, _ in 0 })
    }
    /// Swift.max(x, 0).
    public func relu() -> Tensor { unary("relu", { $0 > 0 ? $0 : 0 }, derivative: { x, _ in x > 0 ? 1 : 0 }, secondDerivative: { _, _ in 0 }) }
    /// x for x > 0, `negativeSlope`·x otherwise (torch default slope 0.01; pix2pix uses 0.2).
    public func leakyReLU(negativeSlope: Float = 0.01) -> Tensor {
        unary("leaky_relu", { $0 > 0 ? $0 : negativeSlope * $0 }, derivative: { x, _ in x > 0 ? 1 : negativeSlope },
              secondDerivative: { _, _ in 0 })
    }
    /// Hyperbolic tangent.
    public func tanh() -> Tensor { unary("tanh", expensive: true, { Foundation.tanh($0) }, derivative: { _, y in 1 - y * y },
                                 secondDerivative: { _, y in -2 * y * (1 - y * y) }) }
    /// Logistic sigmoid.
    public func sigmoid() -> Tensor {
        unary("sigmoid", expensive: true, { Tensor.logistic($0) }, derivative: { _, y in y * (1 - y) },
              secondDerivative: { _, y in y * (1 - y) * (1 - 2 * y) })
    }
    /// x·sigmoid(x) (SiLU / swish).
    public func silu() -> Tensor {
        unary("silu", expensive: true, { $0 * Tensor.logistic($0) }, derivative: { x, _ in
            let s = Tensor.logistic(x)
            return s * (1 + x * (1 - s))
        })
    }
    /// Exact GELU, x·Φ(x), as torch.nn.GELU() (approximate = "none").
    public func gelu() -> Tensor {
        unary("gelu", expensive: true, { 0.5 * $0 * (1 + Foundation.erf($0 * 0.70710678118654752)) }, derivative: { x, _ in
            let cdf = 0.5 * (1 + Foundation.erf(x * 0.70710678118654752))
            let density = 0.39894228040143268 * Foundation.exp(-0.5 * x * x)
            return cdf + x * density
        })
    }

    @inline(__always)
    static func logistic(_ x: Float) -> Float {
        x >= 0 ? 1 / (1 + Foundation.exp(-x)) : { let e = Foundation.exp(x); return e / (1 + e) }()
    }
}
