import Foundation
import NN
import Tensor

/// The building blocks of latent diffusion's networks (CompVis/latent-diffusion `ldm/modules/diffusionmodules/model.py`),
/// with the same state-dict keys: GroupNorm(32, ε 1e-6) everywhere, SiLU ("swish") activations.
enum DiffusionLayers {
    /// 32 groups as the reference; channel counts it does not divide (small test models) use the largest power of two that does.
    static func normalization(_ channels: Int) -> GroupNorm {
        var groups = 32
        while channels % groups != 0 { groups /= 2 }
        return GroupNorm(groups: groups, channels: channels, epsilon: 1e-6)
    }
}

/// The state-dict names of a residual block's time projection and shortcut.
public enum ResnetKeyStyle: Sendable {
    /// latent-diffusion's `temb_proj`, `nin_shortcut`.
    case latentDiffusion
    /// diffusers' `ResnetBlock2D`: `time_emb_proj`, `conv_shortcut`.
    case diffusers
}

/// Residual block `x' + conv2(SiLU(norm2(conv1(SiLU(norm1(x))) + proj(SiLU(t)))))`, where `x'` is `x` or its 1×1
/// projection (`nin_shortcut`) when the channel count changes and `proj` (`temb_proj`) adds a time embedding when
/// the block has one. Keys `norm1`, `conv1`, `temb_proj`, `norm2`, `conv2`, `nin_shortcut` (or diffusers' names,
/// ``ResnetKeyStyle``).
public final class DiffusionResnetBlock: Module {
    let norm1: GroupNorm
    let conv1: Conv2d
    let embeddingProjection: Linear?
    let norm2: GroupNorm
    let dropout: Dropout
    let conv2: Conv2d
    let shortcut: Conv2d?

    /// - Parameters: `groups`/`epsilon`: the group norms' (default: latent diffusion's 32 groups, or the largest power of
    ///   two that divides the channels, and ε 1e-6).
    public init(inputChannels: Int, outputChannels: Int, embeddingChannels: Int = 0, dropout probability: Float = 0,
                keys: ResnetKeyStyle = .latentDiffusion, groups: Int? = nil, epsilon: Float = 1e-6, generator: RandomGenerator = .shared) {
        func normalization(_ channels: Int) -> GroupNorm {
            groups.map { GroupNorm(groups: $0, channels: channels, epsilon: epsilon) } ?? DiffusionLayers.normalization(channels)
        }
        norm1 = normalization(inputChannels)
        conv1 = Conv2d(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 3, padding: 1, generator: generator)
        embeddingProjection = embeddingChannels > 0
            ? Linear(inputFeatures: embeddingChannels, outputFeatures: outputChannels, generator: generator) : nil
        norm2 = normalization(outputChannels)
        dropout = Dropout(probability: probability, generator: generator)
        conv2 = Conv2d(inputChannels: outputChannels, outputChannels: outputChannels, kernelSize: 3, padding: 1, generator: generator)
        shortcut = inputChannels != outputChannels
            ? Conv2d(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 1, generator: generator) : nil
        super.init()
        registerModule("norm1", norm1)
        registerModule("conv1", conv1)
        if let embeddingProjection { registerModule(keys == .diffusers ? "time_emb_proj" : "temb_proj", embeddingProjection) }
        registerModule("norm2", norm2)
        registerModule("dropout", dropout)
        registerModule("conv2", conv2)
        if let shortcut { registerModule(keys == .diffusers ? "conv_shortcut" : "nin_shortcut", shortcut) }
    }

    /// `[N, Cin, H, W]` (and a time embedding `[N, E]` when built with one) → `[N, Cout, H, W]`.
    public func forward(_ input: Tensor, embedding: Tensor?) -> Tensor {
        var hidden = conv1(norm1(input).silu())
        if let embeddingProjection {
            guard let embedding else { preconditionFailure("this block needs a time embedding") }
            let projected = embeddingProjection(embedding.silu())
            hidden = hidden + projected.reshaped([projected.shape[0], projected.shape[1], 1, 1])
        }
        hidden = conv2(dropout(norm2(hidden).silu()))
        return (shortcut.map { $0(input) } ?? input) + hidden
    }

    public override func forward(_ input: Tensor) -> Tensor { forward(input, embedding: nil) }
}

/// Single-head self-attention over all positions of a feature map, with a residual connection
/// (`AttnBlock`: `norm`, 1×1 `q`, `k`, `v`, `proj_out`). `[N, C, H, W] → [N, C, H, W]`.
public final class SpatialSelfAttention: Module {
    let norm: GroupNorm
    let query: Conv2d, key: Conv2d, value: Conv2d, projection: Conv2d

    public init(channels: Int, generator: RandomGenerator = .shared) {
        norm = DiffusionLayers.normalization(channels)
        query = Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 1, generator: generator)
        key = Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 1, generator: generator)
        value = Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 1, generator: generator)
        projection = Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 1, generator: generator)
        super.init()
        registerModule("norm", norm)
        registerModule("q", query)
        registerModule("k", key)
        registerModule("v", value)
        registerModule("proj_out", projection)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let normalized = norm(input)
        // [N, C, HW] → [N, HW, C] for queries, keys and values; attention weights [N, HW, HW].
        func positions(_ layer: Conv2d) -> Tensor { layer(normalized).reshaped([batch, channels, height * width]).transposed(1, 2) }
        let attended = Tensor.scaledDotProductAttention(query: positions(query), key: positions(key), value: positions(value))
        let hidden = attended.transposed(1, 2).reshaped([batch, channels, height, width])
        return input + projection(hidden)
    }
}

/// Halves the sides: zero-pad right and bottom by one, then a 3×3 stride-2 convolution (`conv`).
public final class DiffusionDownsample: Module {
    let convolution: Conv2d

    public init(channels: Int, generator: RandomGenerator = .shared) {
        convolution = Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 3, stride: 2, generator: generator)
        super.init()
        registerModule("conv", convolution)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        convolution(input.padded(left: 0, right: 1, top: 0, bottom: 1, mode: .zeros))
    }
}

/// Doubles the sides: nearest-neighbour ×2, then a 3×3 convolution (`conv`).
public final class DiffusionUpsample: Module {
    let convolution: Conv2d

    public init(channels: Int, generator: RandomGenerator = .shared) {
        convolution = Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 3, padding: 1, generator: generator)
        super.init()
        registerModule("conv", convolution)
    }

    public override func forward(_ input: Tensor) -> Tensor { convolution(input.upsampled(scale: 2, mode: .nearest)) }
}

/// The shape of a KL autoencoder (latent-diffusion's `ddconfig` and `embed_dim`).
/// The encoder/decoder design of an ``AutoencoderKL``.
public enum AutoencoderStyle: String, Equatable, Sendable, Codable, CaseIterable {
    /// latent-diffusion's: ResNet blocks at every level from the full resolution down, a middle block with attention
    /// (its state-dict keys; what published models use).
    case latentDiffusion = "ldm"
    /// A compact design for CPUs: space-to-depth by f, then ``AutoencoderConfiguration/blocksPerLevel`` residual blocks of
    /// ``AutoencoderConfiguration/channels`` channels at the latent resolution, and the mirror image to decode —
    /// every convolution at 1/f of the resolution.
    case pixelShuffle = "pixel_shuffle"
}

public struct AutoencoderConfiguration: Equatable, Sendable, Codable {
    /// Channels of the first level (`ch`).
    public var channels = 64
    /// Channel multiplier per level (`ch_mult`); the image is downsampled 2^(levels − 1) times.
    public var multipliers = [1, 2, 4]
    /// Residual blocks per level (`num_res_blocks`).
    public var blocksPerLevel = 2
    /// Feature-map sides (of the input resolution) at which levels add self-attention (`attn_resolutions`).
    public var attentionResolutions: [Int] = []
    /// The side the attention resolutions refer to (`resolution`).
    public var resolution = 256
    public var imageChannels = 3
    /// Latent channels (`z_channels` = `embed_dim`).
    public var latentChannels = 3
    /// The encoder/decoder design.
    public var style = AutoencoderStyle.latentDiffusion

    public init() {}

    enum CodingKeys: String, CodingKey {
        case channels, multipliers, blocksPerLevel, attentionResolutions, resolution, imageChannels, latentChannels, style
    }

    public init(from decoder: Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        channels = try values.decode(Int.self, forKey: .channels)
        multipliers = try values.decode([Int].self, forKey: .multipliers)
        blocksPerLevel = try values.decode(Int.self, forKey: .blocksPerLevel)
        attentionResolutions = try values.decodeIfPresent([Int].self, forKey: .attentionResolutions) ?? []
        resolution = try values.decodeIfPresent(Int.self, forKey: .resolution) ?? 256
        imageChannels = try values.decodeIfPresent(Int.self, forKey: .imageChannels) ?? 3
        latentChannels = try values.decode(Int.self, forKey: .latentChannels)
        style = try values.decodeIfPresent(AutoencoderStyle.self, forKey: .style) ?? .latentDiffusion
    }

    /// The downsampling factor f.
    public var downsamplingFactor: Int { 1 << (multipliers.count - 1) }
}

/// One resolution level of the encoder, decoder or UNet: residual blocks (`block.j`), each followed by self-attention
/// (`attn.j`) when the level has it, and an optional resampling layer (`downsample` or `upsample`).
final class DiffusionLevel: Module {
    let blocks: [DiffusionResnetBlock]
    let attentions: [SpatialSelfAttention]
    let resample: Module?

    /// - Parameter blockInputs: the input channels of each block (the first takes the previous level's; in the UNet's
    ///   up path each also takes a skip connection).
    init(blockInputs: [Int], outputChannels: Int, embeddingChannels: Int = 0, dropout: Float = 0, attention: Bool,
         resample: (name: String, module: Module)?, generator: RandomGenerator) {
        blocks = blockInputs.map {
            DiffusionResnetBlock(inputChannels: $0, outputChannels: outputChannels, embeddingChannels: embeddingChannels, dropout: dropout,
                                 generator: generator)
        }
        attentions = attention ? blockInputs.map { _ in SpatialSelfAttention(channels: outputChannels, generator: generator) } : []
        self.resample = resample?.module
        super.init()
        registerModule("block", Sequential(blocks))
        registerModule("attn", Sequential(attentions))
        if let resample { registerModule(resample.name, resample.module) }
    }

    /// Block `index` and its attention.
    func block(_ index: Int, _ input: Tensor, embedding: Tensor?) -> Tensor {
        let hidden = blocks[index].forward(input, embedding: embedding)
        return attentions.isEmpty ? hidden : attentions[index](hidden)
    }
}

/// `mid.block_1`, `mid.attn_1`, `mid.block_2`.
final class DiffusionMiddle: Module {
    let first: DiffusionResnetBlock, attention: SpatialSelfAttention, second: DiffusionResnetBlock

    init(channels: Int, embeddingChannels: Int = 0, dropout: Float = 0, generator: RandomGenerator) {
        first = DiffusionResnetBlock(inputChannels: channels, outputChannels: channels, embeddingChannels: embeddingChannels,
                                     dropout: dropout, generator: generator)
        attention = SpatialSelfAttention(channels: channels, generator: generator)
        second = DiffusionResnetBlock(inputChannels: channels, outputChannels: channels, embeddingChannels: embeddingChannels,
                                      dropout: dropout, generator: generator)
        super.init()
        registerModule("block_1", first)
        registerModule("attn_1", attention)
        registerModule("block_2", second)
    }

    func forward(_ input: Tensor, embedding: Tensor?) -> Tensor {
        second.forward(attention(first.forward(input, embedding: embedding)), embedding: embedding)
    }

    override func forward(_ input: Tensor) -> Tensor { forward(input, embedding: nil) }
}

/// The encoder: `conv_in`, per level `down.i.block.j` (+ `down.i.attn.j`) and `down.i.downsample` (not on the last
/// level), `mid.block_1`, `mid.attn_1`, `mid.block_2`, `norm_out`, `conv_out` to 2 × latent channels (mean and
/// log-variance). `[N, imageChannels, H, W] → [N, 2·latentChannels, H/f, W/f]`.
public final class DiffusionEncoder: Module {
    let inputConvolution: Conv2d
    let levels: [DiffusionLevel]
    let middle: DiffusionMiddle
    let outputNorm: GroupNorm
    let outputConvolution: Conv2d

    public init(_ configuration: AutoencoderConfiguration, generator: RandomGenerator = .shared) {
        let base = configuration.channels
        inputConvolution = Conv2d(inputChannels: configuration.imageChannels, outputChannels: base, kernelSize: 3, padding: 1,
                                  generator: generator)
        var built: [DiffusionLevel] = []
        var side = configuration.resolution
        var channels = base
        for (level, multiplier) in configuration.multipliers.enumerated() {
            let output = base * multiplier
            let last = level == configuration.multipliers.count - 1
            built.append(DiffusionLevel(blockInputs: [channels] + Array(repeating: output, count: configuration.blocksPerLevel - 1),
                                        outputChannels: output, attention: configuration.attentionResolutions.contains(side),
                                        resample: last ? nil : ("downsample", DiffusionDownsample(channels: output, generator: generator)),
                                        generator: generator))
            channels = output
            if !last { side /= 2 }
        }
        levels = built
        middle = DiffusionMiddle(channels: channels, generator: generator)
        outputNorm = DiffusionLayers.normalization(channels)
        outputConvolution = Conv2d(inputChannels: channels, outputChannels: 2 * configuration.latentChannels, kernelSize: 3,
                                   padding: 1, generator: generator)
        super.init()
        registerModule("conv_in", inputConvolution)
        registerModule("down", Sequential(levels))
        registerModule("mid", middle)
        registerModule("norm_out", outputNorm)
        registerModule("conv_out", outputConvolution)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        var hidden = inputConvolution(input)
        for level in levels {
            for index in level.blocks.indices { hidden = level.block(index, hidden, embedding: nil) }
            if let resample = level.resample { hidden = resample(hidden) }
        }
        return outputConvolution(outputNorm(middle(hidden)).silu())
    }
}

/// The decoder: `conv_in` from the latent, `mid`, per level from the deepest `up.i.block.j` (blocksPerLevel + 1 of
/// them, + `up.i.attn.j`) and `up.i.upsample` (not on level 0), `norm_out`, `conv_out`.
/// `[N, latentChannels, h, w] → [N, imageChannels, h·f, w·f]`.
public final class DiffusionDecoder: Module {
    let inputConvolution: Conv2d
    let middle: DiffusionMiddle
    /// Deepest level first (the order they run in).
    let levels: [DiffusionLevel]
    let outputNorm: GroupNorm
    let outputConvolution: Conv2d

    public init(_ configuration: AutoencoderConfiguration, generator: RandomGenerator = .shared) {
        let base = configuration.channels, count = configuration.multipliers.count
        var channels = base * configuration.multipliers[count - 1]
        var side = configuration.resolution / configuration.downsamplingFactor
        inputConvolution = Conv2d(inputChannels: configuration.latentChannels, outputChannels: channels, kernelSize: 3, padding: 1,
                                  generator: generator)
        middle = DiffusionMiddle(channels: channels, generator: generator)
        var built: [DiffusionLevel] = []
        for level in (0..<count).reversed() {
            let output = base * configuration.multipliers[level]
            built.append(DiffusionLevel(blockInputs: [channels] + Array(repeating: output, count: configuration.blocksPerLevel),
                                        outputChannels: output, attention: configuration.attentionResolutions.contains(side),
                                        resample: level == 0 ? nil : ("upsample", DiffusionUpsample(channels: output, generator: generator)),
                                        generator: generator))
            channels = output
            if level != 0 { side *= 2 }
        }
        levels = built
        outputNorm = DiffusionLayers.normalization(channels)
        outputConvolution = Conv2d(inputChannels: channels, outputChannels: configuration.imageChannels, kernelSize: 3, padding: 1,
                                   generator: generator)
        super.init()
        registerModule("conv_in", inputConvolution)
        registerModule("mid", middle)
        // `up.0` is the shallowest level, as the reference's `insert(0, …)`.
        registerModule("up", Sequential(levels.reversed()))
        registerModule("norm_out", outputNorm)
        registerModule("conv_out", outputConvolution)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        var hidden = middle(inputConvolution(input))
        for level in levels {
            for index in level.blocks.indices { hidden = level.block(index, hidden, embedding: nil) }
            if let resample = level.resample { hidden = resample(hidden) }
        }
        return outputConvolution(outputNorm(hidden).silu())
    }
}

/// A diagonal Gaussian over latents (latent-diffusion's `DiagonalGaussianDistribution`): mean and log-variance
/// `[N, C, h, w]`, the log-variance clamped to [−30, 20].
public struct DiagonalGaussian {
    public let mean: Tensor
    public let logVariance: Tensor

    /// Splits encoder moments `[N, 2C, h, w]` into mean and log-variance.
    public init(moments: Tensor) {
        let halves = moments.chunked(2, axis: 1)
        mean = halves[0]
        logVariance = halves[1].clamped(min: -30, max: 20)
    }

    /// A reparameterised sample `mean + exp(½·logvar)·ε`, ε ~ N(0, 1) from `generator` (differentiable in both).
    public func sample(generator: RandomGenerator = .shared) -> Tensor {
        mean + (logVariance * 0.5).exp() * Tensor.randomNormal(mean.shape, generator: generator)
    }

    /// KL divergence to N(0, 1) per sample, `[N]`: ½·Σ(μ² + σ² − 1 − log σ²) over C, h, w.
    public func klDivergence() -> Tensor {
        ((mean * mean + logVariance.exp() - logVariance) - 1).sum(axes: [1, 2, 3]) * 0.5
    }
}

/// latent-diffusion's `AutoencoderKL`: `encoder`, `decoder`, `quant_conv` (1×1 on the moments) and
/// `post_quant_conv` (1×1 on the latent). Images in [−1, 1], `[N, imageChannels, H, W]` with H, W divisible by f.
public final class AutoencoderKL: Module {
    public let configuration: AutoencoderConfiguration
    public let encoder: Module
    public let decoder: Module
    let quantConvolution: Conv2d
    let postQuantConvolution: Conv2d

    public init(_ configuration: AutoencoderConfiguration, generator: RandomGenerator = .shared) {
        self.configuration = configuration
        switch configuration.style {
        case .latentDiffusion:
            encoder = DiffusionEncoder(configuration, generator: generator)
            decoder = DiffusionDecoder(configuration, generator: generator)
        case .pixelShuffle:
            let (factor, width, latent) = (configuration.downsamplingFactor, configuration.channels, configuration.latentChannels)
            let planes = configuration.imageChannels * factor * factor
            func blocks() -> [Module] { (0..<configuration.blocksPerLevel).map { _ in PlainResidualBlock(channels: width, generator: generator) } }
            encoder = Sequential([SpaceToDepth(factor: factor),
                                  Conv2d(inputChannels: planes, outputChannels: width, kernelSize: 3, padding: 1, generator: generator)]
                                 + blocks() + [Conv2d(inputChannels: width, outputChannels: 2 * latent, kernelSize: 3, padding: 1, generator: generator)])
            decoder = Sequential([Conv2d(inputChannels: latent, outputChannels: width, kernelSize: 3, padding: 1, generator: generator)]
                                 + blocks() + [Conv2d(inputChannels: width, outputChannels: planes, kernelSize: 3, padding: 1, generator: generator),
                                               DepthToSpace(factor: factor)])
        }
        let latent = configuration.latentChannels
        quantConvolution = Conv2d(inputChannels: 2 * latent, outputChannels: 2 * latent, kernelSize: 1, generator: generator)
        postQuantConvolution = Conv2d(inputChannels: latent, outputChannels: latent, kernelSize: 1, generator: generator)
        super.init()
        registerModule("encoder", encoder)
        registerModule("decoder", decoder)
        registerModule("quant_conv", quantConvolution)
        registerModule("post_quant_conv", postQuantConvolution)
    }

    /// The posterior of `image` `[N, imageChannels, H, W]`: latents `[N, latentChannels, H/f, W/f]`.
    public func encode(_ image: Tensor) -> DiagonalGaussian { DiagonalGaussian(moments: moments(image)) }

    /// The posterior's raw moments `[N, 2·latentChannels, H/f, W/f]` (mean, then unclamped log-variance).
    public func moments(_ image: Tensor) -> Tensor {
        precondition(image.rank == 4 && image.shape[2] % configuration.downsamplingFactor == 0
                     && image.shape[3] % configuration.downsamplingFactor == 0,
                     "AutoencoderKL needs [N, C, H, W] with sides divisible by \(configuration.downsamplingFactor), got \(image.shape)")
        return quantConvolution(encoder(image))
    }

    /// The image of latents `[N, latentChannels, h, w]`: `[N, imageChannels, h·f, w·f]` (not clamped).
    public func decode(_ latent: Tensor) -> Tensor { decoder(postQuantConvolution(latent)) }

    /// Reconstruction through the posterior mean (as the reference's `forward(sample_posterior: false)`).
    public override func forward(_ input: Tensor) -> Tensor { decode(encode(input).mean) }
}

extension AutoencoderKL {
    /// Metadata of an autoencoder file (`stylize train vae`'s `latest_net_VAE.safetensors`): its configuration and the
    /// latent scale factor (1/std of the latents), which ``load(contentsOf:)`` reads back.
    public static func fileMetadata(_ configuration: AutoencoderConfiguration, scaleFactor: Float) -> [String: String] {
        ["kind": "autoencoder_kl", "autoencoder": ModelMetadata.json(configuration), "scale_factor": String(scaleFactor)]
    }

    /// An autoencoder written with ``fileMetadata(_:scaleFactor:)`` and its latent scale factor.
    ///
    /// - Throws: ``LatentDiffusionError`` naming the file when it is not such a file; checkpoint errors when unreadable.
    public static func load(contentsOf url: URL) throws -> (autoencoder: AutoencoderKL, scaleFactor: Float) {
        let archive = try Safetensors.read(contentsOf: url)
        guard archive.metadata["kind"] == "autoencoder_kl" else {
            throw LatentDiffusionError.notAnAutoencoder(path: url.path, kind: archive.metadata["kind"])
        }
        let configuration = try ModelMetadata.decode(AutoencoderConfiguration.self, "autoencoder", in: archive.metadata) {
            LatentDiffusionError.badMetadata(path: url.path, key: $0)
        }
        guard let scale = archive.metadata["scale_factor"].flatMap(Float.init), scale > 0, scale.isFinite else {
            throw LatentDiffusionError.badMetadata(path: url.path, key: "scale_factor")
        }
        let model = AutoencoderKL(configuration)
        try model.load(stateDictionary: archive.dictionary)
        return (model, scale)
    }
}
