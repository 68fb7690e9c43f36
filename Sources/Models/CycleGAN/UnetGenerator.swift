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

extension GeneratorFamily {
    /// The pix2pix U-Nets `unet_<side>` (side = 2^downsamplings, at least 32): sides multiple of the side, batch norm;
    /// not tileable (the innermost layer sees the whole image).
    public static let unet = GeneratorFamily(
        name: "unet", commonNames: ["unet_256", "unet_128"], defaultNormalization: .batch, isTileable: false,
        size: UnetGenerator.downsamplings(named:), nameOfSize: { "unet_\(1 << $0)" }, sideMultipleOfSize: { 1 << $0 },
        build: UnetGenerator.make, detect: UnetGenerator.detect)
}

extension UnetGenerator {
    /// `unet_256` → 8.
    @Sendable static func downsamplings(named name: String) -> Int? {
        guard name.hasPrefix("unet_"), let side = Int(name.dropFirst(5)), side >= 32, side & (side - 1) == 0 else { return nil }
        return side.trailingZeroBitCount
    }

    @Sendable static func make(_ architecture: GeneratorArchitecture, _ random: RandomGenerator) -> Module {
        UnetGenerator(inputChannels: architecture.inputChannels, outputChannels: architecture.outputChannels,
                      downsamplings: architecture.depth, filters: architecture.filters, normalization: architecture.normalization,
                      dropout: architecture.dropout, generator: random)
    }

    /// `model.model.0.weight` is `[ngf, in, 4, 4]`; each nested `….model.1.weight` 4×4 conv is one more downsampling.
    @Sendable static func detect(_ shapes: [String: [Int]], _ path: String) throws -> GeneratorArchitecture? {
        guard let stem = shapes["model.model.0.weight"], stem.count == 4, stem[2] == 4 else { return nil }
        let nested = shapes.filter { $0.key.hasSuffix(".model.1.weight") && $0.value.count == 4 && $0.value[2] == 4 }.count
        let outputChannels = shapes["model.model.3.weight"]?[1] ?? 3
        let normalization: NormalizationKind = shapes["model.model.1.model.2.weight"] != nil ? .batch
            : (shapes["model.model.1.model.1.bias"] != nil ? .instance : .none)
        return GeneratorArchitecture(kind: .unet, depth: nested + 1, filters: stem[0], inputChannels: stem[1],
                                     outputChannels: outputChannels, normalization: normalization, dropout: false)
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
