import Foundation
import NN
import Tensor

/// One level of the reference U-Net: `[down … submodule … up]` as a ``Sequential`` under `model`, so keys
/// nest as `model.model.1.model.3…` exactly like junyanz/pytorch-CycleGAN-and-pix2pix.
///
/// Non-outermost levels return `cat(x', model(x))` along channels. The reference's down path starts with
/// an in-place `LeakyReLU(0.2)`, which rewrites `x` before the concatenation reads it, so its skip
/// connection carries `x' = LeakyReLU(x)`; this keeps that data flow. (The parent applies ReLU to the
/// concatenation next, and ReLU(LeakyReLU(x)) = ReLU(x), so outputs would not differ either way.)
public final class UnetSkipConnectionBlock: Module {
    public let model: Sequential
    public let outermost: Bool

    public init(outerChannels: Int, innerChannels: Int, inputChannels: Int? = nil, submodule: UnetSkipConnectionBlock?,
                outermost: Bool = false, innermost: Bool = false, normalization: NormalizationKind = .batch,
                dropout: Bool = false, generator: RandomGenerator = .shared) {
        self.outermost = outermost
        let bias = normalization.convolutionsUseBias
        let inputs = inputChannels ?? outerChannels
        let downConvolution = Conv2d(inputChannels: inputs, outputChannels: innerChannels, kernelSize: 4, stride: 2,
                                     padding: 1, bias: bias, generator: generator)
        var layers: [Module]
        if outermost {
            layers = [downConvolution, submodule!, Activation(.relu),
                      ConvTranspose2d(inputChannels: innerChannels * 2, outputChannels: outerChannels, kernelSize: 4,
                                      stride: 2, padding: 1, generator: generator),
                      Activation(.tanh)]
        } else if innermost {
            layers = [Activation(.leakyReLU(negativeSlope: 0.2)), downConvolution, Activation(.relu),
                      ConvTranspose2d(inputChannels: innerChannels, outputChannels: outerChannels, kernelSize: 4, stride: 2,
                                      padding: 1, bias: bias, generator: generator),
                      normalization.makeLayer(channels: outerChannels)]
        } else {
            layers = [Activation(.leakyReLU(negativeSlope: 0.2)), downConvolution, normalization.makeLayer(channels: innerChannels),
                      submodule!, Activation(.relu),
                      ConvTranspose2d(inputChannels: innerChannels * 2, outputChannels: outerChannels, kernelSize: 4,
                                      stride: 2, padding: 1, bias: bias, generator: generator),
                      normalization.makeLayer(channels: outerChannels)]
            if dropout { layers.append(Dropout(probability: 0.5, generator: generator)) }
        }
        model = Sequential(layers)
        super.init()
        registerModule("model", model)
    }

    /// `[N, C, H, W] → [N, C + outer, H, W]` (outermost: `[N, outer, H, W]`).
    public override func forward(_ input: Tensor) -> Tensor {
        if outermost { return model(input) }
        let activated = model.layers[0](input)
        var current = activated
        for layer in model.layers.dropFirst() { current = layer(current) }
        return Tensor.concatenated([activated, current], axis: 1)
    }
}

/// The pix2pix U-Net generator (`unet_128`: 7 downsamplings, `unet_256`: 8), ngf filters in the first layer.
///
/// Input `[N, inputChannels, H, W]` with H and W divisible by 2^downsamplings; output `[N, outputChannels, H, W]`.
public final class UnetGenerator: Module {
    public let model: UnetSkipConnectionBlock
    public let downsamplings: Int

    public init(inputChannels: Int = 3, outputChannels: Int = 3, downsamplings: Int = 8, filters: Int = 64,
                normalization: NormalizationKind = .batch, dropout: Bool = false, generator: RandomGenerator = .shared) {
        precondition(downsamplings >= 5, "a U-Net needs at least 5 downsamplings")
        self.downsamplings = downsamplings
        var block = UnetSkipConnectionBlock(outerChannels: filters * 8, innerChannels: filters * 8, submodule: nil,
                                            innermost: true, normalization: normalization, generator: generator)
        for _ in 0..<(downsamplings - 5) {
            block = UnetSkipConnectionBlock(outerChannels: filters * 8, innerChannels: filters * 8, submodule: block,
                                            normalization: normalization, dropout: dropout, generator: generator)
        }
        for (outer, inner) in [(filters * 4, filters * 8), (filters * 2, filters * 4), (filters, filters * 2)] {
            block = UnetSkipConnectionBlock(outerChannels: outer, innerChannels: inner, submodule: block,
                                            normalization: normalization, generator: generator)
        }
        model = UnetSkipConnectionBlock(outerChannels: outputChannels, innerChannels: filters, inputChannels: inputChannels,
                                        submodule: block, outermost: true, normalization: normalization, generator: generator)
        super.init()
        registerModule("model", model)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        let multiple = 1 << downsamplings
        precondition(input.rank == 4 && input.shape[2] % multiple == 0 && input.shape[3] % multiple == 0,
                     "UnetGenerator needs sides divisible by \(multiple), got \(input.shape)")
        return model(input)
    }
}
