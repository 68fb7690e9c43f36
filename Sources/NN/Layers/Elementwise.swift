import Foundation
import Tensor

/// A parameter-free element-wise activation.
public final class Activation: Module {
    /// The supported functions.
    public enum Function: Sendable, Equatable {
        case relu, tanh, sigmoid, silu, gelu
        case leakyReLU(negativeSlope: Float)
    }

    public let function: Function

    public init(_ function: Function) {
        self.function = function
        super.init()
    }

    public override func forward(_ input: Tensor) -> Tensor {
        switch function {
        case .relu: return input.relu()
        case .tanh: return input.tanh()
        case .sigmoid: return input.sigmoid()
        case .silu: return input.silu()
        case .gelu: return input.gelu()
        case .leakyReLU(let slope): return input.leakyReLU(negativeSlope: slope)
        }
    }
}

/// Inverted dropout (torch.nn.Dropout), active only in training mode.
public final class Dropout: Module {
    public let probability: Float
    public let generator: RandomGenerator

    public init(probability: Float = 0.5, generator: RandomGenerator = .shared) {
        self.probability = probability
        self.generator = generator
        super.init()
    }

    public override func forward(_ input: Tensor) -> Tensor {
        input.dropout(probability: probability, training: isTraining, generator: generator)
    }
}

/// Pads `[N, C, H, W]` on all sides (torch.nn.ReflectionPad2d, ReplicationPad2d, ZeroPad2d).
public final class Pad2d: Module {
    public let amount: Int
    public let mode: PaddingMode

    public init(_ amount: Int, mode: PaddingMode) {
        self.amount = amount
        self.mode = mode
        super.init()
    }

    public override func forward(_ input: Tensor) -> Tensor { input.padded(amount, mode: mode) }
}

/// Resizes `[N, C, H, W]` by an integer factor (torch.nn.Upsample).
public final class Upsample: Module {
    public let scale: Int
    public let mode: UpsamplingMode

    public init(scale: Int, mode: UpsamplingMode = .nearest) {
        self.scale = scale
        self.mode = mode
        super.init()
    }

    public override func forward(_ input: Tensor) -> Tensor { input.upsampled(scale: scale, mode: mode) }
}

/// Average pooling (torch.nn.AvgPool2d, count_include_pad = true).
public final class AvgPool2d: Module {
    public let kernel: Int
    public let stride: Int
    public let padding: Int

    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
        super.init()
    }

    public override func forward(_ input: Tensor) -> Tensor {
        input.averagePooled(kernel: kernel, stride: stride, padding: padding)
    }
}
