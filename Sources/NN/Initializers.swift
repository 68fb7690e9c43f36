import Foundation
import Tensor

/// Weight initialisers matching `torch.nn.init`, drawing from a seedable ``RandomGenerator``.
/// Fan-in and fan-out follow PyTorch: for `[out, in, k, k]`, fanIn = in·k², fanOut = out·k².
public enum Initializer {
    /// N(mean, std²) — CycleGAN/pix2pix use `normal(mean: 0, standardDeviation: 0.02)`.
    case normal(mean: Float = 0, standardDeviation: Float = 0.02)
    /// Xavier/Glorot uniform: U(−a, a), a = gain·√(6 / (fanIn + fanOut)).
    case xavierUniform(gain: Float = 1)
    /// Xavier/Glorot normal: std = gain·√(2 / (fanIn + fanOut)).
    case xavierNormal(gain: Float = 1)
    /// Kaiming/He normal, fan-in mode: std = gain/√fanIn with gain = √(2 / (1 + a²)).
    case kaimingNormal(negativeSlope: Float = 0)
    /// Kaiming/He uniform, fan-in mode: bound = gain·√(3 / fanIn).
    case kaimingUniform(negativeSlope: Float = 0)
    /// (Semi-)orthogonal rows or columns of the weight flattened to `[shape[0], rest]`, times `gain`.
    case orthogonal(gain: Float = 1)

    /// fanIn and fanOut of a weight shape, as `torch.nn.init._calculate_fan_in_and_fan_out`.
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        precondition(shape.count >= 2, "fan computation needs at least 2 dimensions, got \(shape)")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// Overwrites `tensor` in place.
    public func initialize(_ tensor: Tensor, generator: RandomGenerator = .shared) {
        switch self {
        case .normal(let mean, let deviation):
            generator.fillNormal(tensor.pointer, count: tensor.count, mean: mean, standardDeviation: deviation)
        case .xavierUniform(let gain):
            let (fanIn, fanOut) = Self.fans(tensor.shape)
            let bound = gain * (6 / Float(fanIn + fanOut)).squareRoot()
            generator.fillUniform(tensor.pointer, count: tensor.count, low: -bound, high: bound)
        case .xavierNormal(let gain):
            let (fanIn, fanOut) = Self.fans(tensor.shape)
            generator.fillNormal(tensor.pointer, count: tensor.count, mean: 0,
                                 standardDeviation: gain * (2 / Float(fanIn + fanOut)).squareRoot())
        case .kaimingNormal(let slope):
            let gain = (2 / (1 + slope * slope)).squareRoot()
            generator.fillNormal(tensor.pointer, count: tensor.count, mean: 0,
                                 standardDeviation: gain / Float(Self.fans(tensor.shape).fanIn).squareRoot())
        case .kaimingUniform(let slope):
            let gain = (2 / (1 + slope * slope)).squareRoot()
            let bound = gain * (3 / Float(Self.fans(tensor.shape).fanIn)).squareRoot()
            generator.fillUniform(tensor.pointer, count: tensor.count, low: -bound, high: bound)
        case .orthogonal(let gain):
            Self.fillOrthogonal(tensor, gain: gain, generator: generator)
        }
    }

    /// Modified Gram–Schmidt on a Gaussian matrix, in double precision.
    static func fillOrthogonal(_ tensor: Tensor, gain: Float, generator: RandomGenerator) {
        let rows = tensor.shape[0], columns = tensor.count / max(rows, 1)
        // Orthonormalise the shorter side's vectors: `vectors` of length `length`.
        let transposed = rows > columns
        let vectors = transposed ? columns : rows, length = transposed ? rows : columns
        var matrix = [Double](repeating: 0, count: vectors * length)
        let samples = Tensor.randomNormal([vectors * length], generator: generator)
        for index in 0..<matrix.count { matrix[index] = Double(samples.pointer[index]) }
        for vector in 0..<vectors {
            for previous in 0..<vector {
                var dot = 0.0
                for index in 0..<length { dot += matrix[vector * length + index] * matrix[previous * length + index] }
                for index in 0..<length { matrix[vector * length + index] -= dot * matrix[previous * length + index] }
            }
            var norm = 0.0
            for index in 0..<length { norm += matrix[vector * length + index] * matrix[vector * length + index] }
            norm = Swift.max(norm.squareRoot(), 1e-12)
            for index in 0..<length { matrix[vector * length + index] /= norm }
        }
        for row in 0..<rows {
            for column in 0..<columns {
                let value = transposed ? matrix[column * length + row] : matrix[row * length + column]
                tensor.pointer[row * columns + column] = gain * Float(value)
            }
        }
    }
}

extension Module {
    /// Initialises every conv/linear weight with `initializer` and zeroes their biases; norm weights get
    /// N(1, 0.02) and zero bias — the `init_weights` of junyanz/pytorch-CycleGAN-and-pix2pix.
    public func initializeWeights(_ initializer: Initializer, generator: RandomGenerator = .shared) {
        for (_, module) in allModules() {
            switch module {
            case let conv as Conv2d:
                initializer.initialize(conv.weight, generator: generator)
                conv.bias?.fill(0)
            case let conv as ConvTranspose2d:
                initializer.initialize(conv.weight, generator: generator)
                conv.bias?.fill(0)
            case let linear as Linear:
                initializer.initialize(linear.weight, generator: generator)
                linear.bias?.fill(0)
            case let norm as BatchNorm2d:
                if let weight = norm.weight {
                    generator.fillNormal(weight.pointer, count: weight.count, mean: 1, standardDeviation: 0.02)
                }
                norm.bias?.fill(0)
            default: break
            }
        }
    }

    /// This module and every descendant with its dotted path, depth first.
    public func allModules(prefix: String = "") -> [(name: String, module: Module)] {
        var result: [(String, Module)] = [(prefix, self)]
        for child in childModules {
            result += child.module.allModules(prefix: prefix.isEmpty ? child.name : prefix + "." + child.name)
        }
        return result
    }
}
