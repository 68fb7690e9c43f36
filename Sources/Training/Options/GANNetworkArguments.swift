import ArgumentParser
import Foundation
import ImageIO
import Models

/// The networks of the GAN recipes (CycleGAN, pix2pix, GAN colorization); unset values take the recipe's defaults.
/// The reference's spellings (`--netG`, `--netD`, `--n-layers-D`) are accepted too.
public struct GANNetworkArguments: ParsableArguments {
    @Option(help: "Generator (default per recipe; any resnet_<N>blocks, cut_resnet_<N>blocks or unet_<2^k> also works).") public var netG: GeneratorName?
    @Option(name: .customLong("netG"), help: .hidden) var netGAlias: GeneratorName?
    @Option(help: "Generator filters in the first layer.") public var ngf = 64
    @Option(help: "Discriminator: basic (70×70 PatchGAN), n_layers (--n-layers-d strided layers) or pixel (1×1).") public var netD: DiscriminatorArchitecture.Kind?
    @Option(name: .customLong("netD"), help: .hidden) var netDAlias: DiscriminatorArchitecture.Kind?
    @Option(help: "Discriminator filters in the first layer.") public var ndf = 64
    @Option(help: "Strided layers of the n_layers discriminator.") public var nLayersD: Int?
    @Option(name: .customLong("n-layers-D"), help: .hidden) var nLayersDAlias: Int?
    @Option(help: "Normalization (default per recipe).") public var norm: NormalizationKind?
    @Flag(help: "No dropout in the generator (pix2pix uses it by default).") public var noDropout = false
    @Flag(help: "Dropout in the generator (CycleGAN has none by default).") public var dropout = false
    @Option(help: "GAN loss (default per recipe): vanilla (non-saturating), lsgan, hinge, wgangp (with --lambda-gp).") public var ganMode: GANMode?
    @Flag(help: "Minibatch discrimination: a minibatch standard-deviation channel before the discriminator's last convolution.")
    public var minibatchStd = false
    @Flag(help: "Spectral normalisation of every discriminator convolution (one power iteration per step; u, v saved).")
    public var spectralNorm = false

    public init() {}

    public func validate() throws {
        guard ngf >= 1, ndf >= 1 else { throw ValidationError("--ngf and --ndf must be positive") }
        if let layers = nLayersD ?? nLayersDAlias, layers < 1 { throw ValidationError("--n-layers-d must be positive") }
        guard !(dropout && noDropout) else { throw ValidationError("give --dropout or --no-dropout, not both") }
    }

    /// The generator: `defaultName` unless --net-g, the recipe's normalisation and dropout unless told otherwise.
    public func generator(default defaultName: String, normalization: NormalizationKind, dropout recipeDropout: Bool,
                          inputChannels: Int, outputChannels: Int) throws -> GeneratorArchitecture {
        try GeneratorArchitecture(name: (netG ?? netGAlias)?.name ?? defaultName, filters: ngf, inputChannels: inputChannels,
                                  outputChannels: outputChannels, normalization: norm ?? normalization,
                                  dropout: (recipeDropout || dropout) && !noDropout)
    }

    /// The discriminator, normalised like the generator.
    public func discriminator(normalization: NormalizationKind) -> DiscriminatorArchitecture {
        var architecture = DiscriminatorArchitecture(kind: netD ?? netDAlias ?? .basic, filters: ndf, layers: nLayersD ?? nLayersDAlias ?? 3,
                                                     normalization: normalization)
        architecture.minibatchStandardDeviation = minibatchStd
        architecture.spectralNormalization = spectralNorm
        return architecture
    }

    /// The GAN loss: the recipe's unless --gan-mode.
    public func gan(default mode: GANMode) -> GANMode { ganMode ?? mode }

    /// Refuses crops the networks cannot take, with the sizes that work (before anything is written).
    public static func checkCrop(_ preprocessing: Preprocessing, generator: GeneratorArchitecture, discriminator: DiscriminatorArchitecture?) throws {
        guard [.resizeAndCrop, .crop, .scaleWidthAndCrop].contains(preprocessing.mode) else { return }
        let crop = preprocessing.cropSize, multiple = generator.sideMultiple
        guard crop % multiple == 0 else {
            throw ValidationError("--crop-size \(crop) does not fit \(generator.name): use a multiple of \(multiple)")
        }
        if let discriminator, !discriminator.accepts(side: crop) {
            throw ValidationError("--crop-size \(crop) is too small for the \(discriminator.kind.rawValue) discriminator; use a larger crop or fewer --n-layers-d")
        }
    }

    /// The network-defining options as this recipe resolves them (see ``RecipeDefinition/networkDefinition(_:)``).
    public func definition(default name: String, normalization: NormalizationKind, dropout recipeDropout: Bool,
                           inputChannels: Int, outputChannels: Int) throws -> [(option: String, value: String)] {
        let generator = try self.generator(default: name, normalization: normalization, dropout: recipeDropout,
                                           inputChannels: inputChannels, outputChannels: outputChannels)
        let discriminator = self.discriminator(normalization: generator.normalization)
        return [("--net-g", generator.name), ("--ngf", String(generator.filters)), ("--norm", generator.normalization.rawValue),
                ("--dropout", generator.dropout ? "on" : "off"), ("--input-channels", String(inputChannels)),
                ("--output-channels", String(outputChannels)), ("--net-d", discriminator.kind.rawValue), ("--ndf", String(discriminator.filters)),
                ("--n-layers-d", discriminator.kind == .nLayers ? String(discriminator.layers) : "-"),
                ("--minibatch-std", minibatchStd ? "on" : "off"), ("--spectral-norm", spectralNorm ? "on" : "off")]
    }
}
