import Foundation
import ImageIO
import NN
import Tensor

/// Configuration of a ``ResidualUpscaler``.
public struct ResidualUpscalerConfiguration: Equatable, Sendable, Codable {
    /// The upscaling factor f.
    public var factor = 4
    /// Feature channels of the residual blocks.
    public var channels = 64
    /// Residual blocks.
    public var blocks = 8

    public init(factor: Int = 4, channels: Int = 64, blocks: Int = 8) {
        self.factor = factor
        self.channels = channels
        self.blocks = blocks
    }
}

/// A residual block `x + conv3×3(ReLU(conv3×3(x)))` (EDSR's, without normalisation). Keys `conv1.*`, `conv2.*`.
final class PlainResidualBlock: Module {
    let first: Conv2d
    let second: Conv2d

    init(channels: Int, dilation: Int = 1, generator: RandomGenerator) {
        first = Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 3, padding: dilation, dilation: dilation, generator: generator)
        second = Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 3, padding: dilation, dilation: dilation, generator: generator)
        super.init()
        registerModule("conv1", first)
        registerModule("conv2", second)
    }

    override func forward(_ input: Tensor) -> Tensor { input + second(first(input).relu()) }
}

/// The minimum-MSE stage of super-resolution: a residual over the bicubic upscale, predicted at the low resolution.
///
/// The bicubic ×f upscale `[N, 3, f·h, f·w]` (PIL's filter) is rearranged space-to-depth into `[N, 3f², h, w]`; a
/// head convolution, ``ResidualUpscalerConfiguration/blocks`` residual blocks with a global skip, and a tail
/// convolution predict the residual in the same layout, which depth-to-space puts back and adds. Every convolution
/// runs at the low resolution, so a ×4 upscale costs about what the same network costs on the small image. The tail
/// starts at zero: an untrained model is exactly bicubic. Keys: `head.*`, `body.N.conv1/conv2.*`, `tail.*`.
///
/// Input `[N, 3, h, w]` in [−1, 1] (any size); output `[N, 3, f·h, f·w]`, not clamped.
public final class ResidualUpscaler: Module {
    public let configuration: ResidualUpscalerConfiguration
    let head: Conv2d
    let body: Sequential
    let tail: Conv2d

    public init(_ configuration: ResidualUpscalerConfiguration, generator: RandomGenerator = .shared) {
        self.configuration = configuration
        let planes = 3 * configuration.factor * configuration.factor
        head = Conv2d(inputChannels: planes, outputChannels: configuration.channels, kernelSize: 3, padding: 1, generator: generator)
        body = Sequential((0..<configuration.blocks).map { _ in PlainResidualBlock(channels: configuration.channels, generator: generator) })
        tail = Conv2d(inputChannels: configuration.channels, outputChannels: planes, kernelSize: 3, padding: 1, generator: generator)
        tail.weight.pointer.update(repeating: 0, count: tail.weight.count)
        if let bias = tail.bias { bias.pointer.update(repeating: 0, count: bias.count) }
        super.init()
        registerModule("head", head)
        registerModule("body", body)
        registerModule("tail", tail)
    }

    /// The bicubic ×f upscale of `low` `[N, 3, h, w]` (PIL's bicubic in floating point).
    public func bicubic(_ low: Tensor) -> Tensor {
        let factor = configuration.factor
        return low.resampled(height: low.shape[2] * factor, width: low.shape[3] * factor, filter: .bicubic)
    }

    public override func forward(_ low: Tensor) -> Tensor {
        let factor = configuration.factor
        let base = bicubic(low.detached())
        let features = head(spaceToDepth(base, factor: factor))
        let residual = tail(body(features) + features)
        return base + depthToSpace(residual, factor: factor)
    }
}

/// `[N, C, H, W] → [N, C·f², H/f, W/f]`: each f×f block becomes channels (row-major within the block).
public func spaceToDepth(_ input: Tensor, factor: Int) -> Tensor {
    let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    return input.reshaped([batch, channels, height / factor, factor, width / factor, factor])
        .permuted([0, 1, 3, 5, 2, 4]).reshaped([batch, channels * factor * factor, height / factor, width / factor])
}

/// The inverse of ``spaceToDepth(_:factor:)``: `[N, C·f², h, w] → [N, C, h·f, w·f]`.
public func depthToSpace(_ input: Tensor, factor: Int) -> Tensor {
    let (batch, planes, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let channels = planes / (factor * factor)
    return input.reshaped([batch, channels, factor, factor, height, width])
        .permuted([0, 1, 4, 2, 5, 3]).reshaped([batch, channels, height * factor, width * factor])
}

/// ``spaceToDepth(_:factor:)`` as a layer.
public final class SpaceToDepth: Module {
    public let factor: Int
    public init(factor: Int) { self.factor = factor; super.init() }
    public override func forward(_ input: Tensor) -> Tensor { spaceToDepth(input, factor: factor) }
}

/// ``depthToSpace(_:factor:)`` as a layer.
public final class DepthToSpace: Module {
    public let factor: Int
    public init(factor: Int) { self.factor = factor; super.init() }
    public override func forward(_ input: Tensor) -> Tensor { depthToSpace(input, factor: factor) }
}
