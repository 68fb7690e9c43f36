import Foundation
import NN
import Tensor

/// A discriminator whose intermediate activations can be compared (feature matching, pix2pixHD).
public protocol FeatureDiscriminator: Module {
    /// The activation after each hidden layer's nonlinearity, then the output — what `forward` computes, kept.
    func features(_ input: Tensor) -> [Tensor]
}

extension Sequential {
    /// The output of every layer followed by an activation, and the final output.
    func activations(_ input: Tensor) -> [Tensor] {
        var current = input
        var kept: [Tensor] = []
        for (index, layer) in layers.enumerated() {
            current = layer(current)
            if layer is Activation || index == layers.count - 1 { kept.append(current) }
        }
        return kept
    }
}

/// The PatchGAN discriminator (`basic` = n_layers 3: 70×70 receptive field) of the reference implementation.
///
/// Input `[N, C, H, W]`; output `[N, 1, H', W']` of real/fake logits per patch. Keys `model.0` … as the reference
/// `NLayerDiscriminator`; with `minibatchStandardDeviation` a ``MinibatchStandardDeviation`` layer comes before the
/// last convolution (which then takes one more channel); with `spectralNormalization` every convolution is
/// spectrally normalised (buffers `weight_u`, `weight_v`).
public final class PatchDiscriminator: Module, FeatureDiscriminator {
    public let model: Sequential

    public init(inputChannels: Int, filters: Int = 64, layers: Int = 3, normalization: NormalizationKind = .batch,
                minibatchStandardDeviation: Bool = false, spectralNormalization: Bool = false, generator: RandomGenerator = .shared) {
        let bias = normalization.convolutionsUseBias
        var modules: [Module] = [
            Conv2d(inputChannels: inputChannels, outputChannels: filters, kernelSize: 4, stride: 2, padding: 1, generator: generator),
            Activation(.leakyReLU(negativeSlope: 0.2)),
        ]
        var multiplier = 1
        for layer in 1..<(layers + 1) {
            let previous = multiplier
            multiplier = min(1 << layer, 8)
            modules += [
                Conv2d(inputChannels: filters * previous, outputChannels: filters * multiplier, kernelSize: 4,
                       stride: layer < layers ? 2 : 1, padding: 1, bias: bias, generator: generator),
                normalization.makeLayer(channels: filters * multiplier),
                Activation(.leakyReLU(negativeSlope: 0.2)),
            ]
        }
        if minibatchStandardDeviation { modules.append(MinibatchStandardDeviation()) }
        modules.append(Conv2d(inputChannels: filters * multiplier + (minibatchStandardDeviation ? 1 : 0), outputChannels: 1,
                              kernelSize: 4, stride: 1, padding: 1, generator: generator))
        if spectralNormalization {
            for case let convolution as Conv2d in modules { convolution.normalizeSpectrally(generator: generator) }
        }
        model = Sequential(modules)
        super.init()
        registerModule("model", model)
    }

    public override func forward(_ input: Tensor) -> Tensor { model(input) }

    public func features(_ input: Tensor) -> [Tensor] { model.activations(input) }
}

/// The 1×1 PatchGAN (`--netD pixel`) of the reference implementation: a real/fake logit per pixel.
///
/// Input `[N, C, H, W]`; output `[N, 1, H, W]`. Keys `net.0`, `net.2`, `net.3`, `net.5` as the reference
/// `PixelDiscriminator`.
public final class PixelDiscriminator: Module, FeatureDiscriminator {
    public let net: Sequential

    public init(inputChannels: Int, filters: Int = 64, normalization: NormalizationKind = .batch,
                minibatchStandardDeviation: Bool = false, spectralNormalization: Bool = false, generator: RandomGenerator = .shared) {
        let bias = normalization.convolutionsUseBias
        var modules: [Module] = [
            Conv2d(inputChannels: inputChannels, outputChannels: filters, kernelSize: 1, generator: generator),
            Activation(.leakyReLU(negativeSlope: 0.2)),
            Conv2d(inputChannels: filters, outputChannels: filters * 2, kernelSize: 1, bias: bias, generator: generator),
            normalization.makeLayer(channels: filters * 2),
            Activation(.leakyReLU(negativeSlope: 0.2)),
        ]
        if minibatchStandardDeviation { modules.append(MinibatchStandardDeviation()) }
        modules.append(Conv2d(inputChannels: filters * 2 + (minibatchStandardDeviation ? 1 : 0), outputChannels: 1, kernelSize: 1,
                              bias: bias, generator: generator))
        if spectralNormalization {
            for case let convolution as Conv2d in modules { convolution.normalizeSpectrally(generator: generator) }
        }
        net = Sequential(modules)
        super.init()
        registerModule("net", net)
    }

    public override func forward(_ input: Tensor) -> Tensor { net(input) }

    public func features(_ input: Tensor) -> [Tensor] { net.activations(input) }
}

/// A reference discriminator choice (`--netD basic|n_layers|pixel`, `--n_layers_D`, `--ndf`, `--norm`).
public struct DiscriminatorArchitecture: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        /// The 70×70 PatchGAN (n_layers 3).
        case basic
        /// A PatchGAN with ``layers`` strided layers.
        case nLayers = "n_layers"
        /// The 1×1 PixelGAN.
        case pixel
    }

    public var kind: Kind
    public var filters: Int
    /// Used by `n_layers` (basic is 3).
    public var layers: Int
    public var normalization: NormalizationKind
    /// A minibatch standard-deviation channel before the last convolution (`--minibatch-std`).
    public var minibatchStandardDeviation = false
    /// Spectrally normalised convolutions (`--spectral-norm`).
    public var spectralNormalization = false

    public init(kind: Kind = .basic, filters: Int = 64, layers: Int = 3, normalization: NormalizationKind = .instance) {
        self.kind = kind
        self.filters = filters
        self.layers = layers
        self.normalization = normalization
    }

    /// Whether an image side of `side` pixels leaves the discriminator at least one output patch: each strided 4×4
    /// convolution (padding 1) halves the side, and the last two 4×4 convolutions (stride 1, padding 1) take 1 each.
    public func accepts(side: Int) -> Bool {
        guard kind != .pixel else { return side >= 1 }
        var remaining = side
        for _ in 0..<(kind == .basic ? 3 : layers) { remaining = (remaining - 2) / 2 + 1 }
        return remaining - 2 >= 1
    }

    /// A freshly built discriminator for `inputChannels`.
    public func makeDiscriminator(inputChannels: Int, generator: RandomGenerator = .shared) -> Module {
        switch kind {
        case .basic:
            return PatchDiscriminator(inputChannels: inputChannels, filters: filters, layers: 3, normalization: normalization,
                                      minibatchStandardDeviation: minibatchStandardDeviation, spectralNormalization: spectralNormalization,
                                      generator: generator)
        case .nLayers:
            return PatchDiscriminator(inputChannels: inputChannels, filters: filters, layers: layers, normalization: normalization,
                                      minibatchStandardDeviation: minibatchStandardDeviation, spectralNormalization: spectralNormalization,
                                      generator: generator)
        case .pixel:
            return PixelDiscriminator(inputChannels: inputChannels, filters: filters, normalization: normalization,
                                      minibatchStandardDeviation: minibatchStandardDeviation, spectralNormalization: spectralNormalization,
                                      generator: generator)
        }
    }
}
