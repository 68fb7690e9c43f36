import Foundation
import NN
import Tensor

// The networks of a diffusers latent-diffusion folder (`UNet2DModel`, `VQModel`), built from their `config.json` with
// diffusers' module names, so `diffusion_pytorch_model.{bin,safetensors}` loads key for key.

/// What is wrong with a diffusers folder, naming the file or key.
public enum DiffusersError: Error, CustomStringConvertible {
    case missingFile(String)
    case unsupported(file: String, reason: String)
    case weights(file: String, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let path): return "\(path): missing (a diffusers folder has vqvae/, unet/ and scheduler/ with config.json and weights)"
        case .unsupported(let file, let reason): return "\(file): \(reason)"
        case .weights(let file, let reason): return "\(file): \(reason)"
        }
    }
}

/// diffusers' `Attention` on a feature map, as its spatial blocks use it: group norm, linear `to_q`, `to_k`, `to_v`
/// over the positions, `heads` heads of C/heads channels, linear `to_out.0`, plus the input. `[N, C, H, W]` → same.
final class DiffusersAttention: Module {
    let norm: GroupNorm, query: Linear, key: Linear, value: Linear, output: Linear
    let heads: Int

    /// Queries attended at once (longer maps go in chunks of this many positions).
    static let queryChunk = 1024

    init(channels: Int, heads: Int, groups: Int, epsilon: Float, generator: RandomGenerator) {
        precondition(heads >= 1 && channels % heads == 0, "attention: \(channels) channels in \(heads) heads")
        self.heads = heads
        norm = GroupNorm(groups: groups, channels: channels, epsilon: epsilon)
        query = Linear(inputFeatures: channels, outputFeatures: channels, generator: generator)
        key = Linear(inputFeatures: channels, outputFeatures: channels, generator: generator)
        value = Linear(inputFeatures: channels, outputFeatures: channels, generator: generator)
        output = Linear(inputFeatures: channels, outputFeatures: channels, generator: generator)
        super.init()
        registerModule("group_norm", norm)
        registerModule("to_q", query)
        registerModule("to_k", key)
        registerModule("to_v", value)
        registerModule("to_out", Sequential([output]))
    }

    override func forward(_ input: Tensor) -> Tensor {
        let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let length = height * width, depth = channels / heads
        // [N, C, HW] → [N·HW, C] rows for the projections; heads split as [N·heads, HW, C/heads].
        let rows = norm(input).reshaped([batch, channels, length]).transposed(1, 2).reshaped([batch * length, channels])
        func split(_ layer: Linear) -> Tensor {
            layer(rows).reshaped([batch, length, heads, depth]).permuted([0, 2, 1, 3]).reshaped([batch * heads, length, depth])
        }
        let (queries, keys, values) = (split(query), split(key), split(value))
        // Queries in chunks bound the score matrix (a VQ decoder's middle attention at 128² latents would otherwise
        // hold 16,384² scores, 1 GB); each chunk's softmax is over all keys, so the result is the same.
        let chunk = DiffusersAttention.queryChunk
        let attended = length <= chunk
            ? Tensor.scaledDotProductAttention(query: queries, key: keys, value: values)
            : Tensor.concatenated(stride(from: 0, to: length, by: chunk).map { start in
                Tensor.scaledDotProductAttention(query: queries.sliced(axis: 1, start..<min(start + chunk, length)), key: keys, value: values)
            }, axis: 1)
        let merged = attended.reshaped([batch, heads, length, depth]).permuted([0, 2, 1, 3]).reshaped([batch * length, channels])
        let projected = output(merged).reshaped([batch, length, channels]).transposed(1, 2).reshaped([batch, channels, height, width])
        return input + projected
    }
}

/// diffusers' `Downsample2D` with a convolution (`conv`): stride 2, padding 1 — or, with `padding` 0, first one zero
/// column and row on the right and bottom (the VQ encoder's).
final class DiffusersDownsample: Module {
    let convolution: Conv2d
    let padding: Int

    init(channels: Int, padding: Int, generator: RandomGenerator) {
        self.padding = padding
        convolution = Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 3, stride: 2, padding: padding, generator: generator)
        super.init()
        registerModule("conv", convolution)
    }

    override func forward(_ input: Tensor) -> Tensor {
        convolution(padding == 0 ? input.padded(left: 0, right: 1, top: 0, bottom: 1, mode: .zeros) : input)
    }
}

/// diffusers' `Upsample2D` with a convolution: nearest ×2, then a 3×3 convolution (`conv`).
final class DiffusersUpsample: Module {
    let convolution: Conv2d

    init(channels: Int, generator: RandomGenerator) {
        convolution = Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 3, padding: 1, generator: generator)
        super.init()
        registerModule("conv", convolution)
    }

    override func forward(_ input: Tensor) -> Tensor { convolution(input.upsampled(scale: 2, mode: .nearest)) }
}

/// A down, middle or up block of diffusers' `resnets`, optional `attentions` (one after each resnet) and an optional
/// `downsamplers.0`/`upsamplers.0`.
final class DiffusersBlock: Module {
    let resnets: [DiffusionResnetBlock]
    let attentions: [DiffusersAttention]
    let resampler: Module?

    init(resnets: [DiffusionResnetBlock], attentions: [DiffusersAttention], downsampler: DiffusersDownsample? = nil,
         upsampler: DiffusersUpsample? = nil) {
        self.resnets = resnets
        self.attentions = attentions
        resampler = downsampler ?? upsampler
        super.init()
        registerModule("resnets", Sequential(resnets))
        if !attentions.isEmpty { registerModule("attentions", Sequential(attentions)) }
        if let downsampler { registerModule("downsamplers", Sequential([downsampler])) }
        if let upsampler { registerModule("upsamplers", Sequential([upsampler])) }
    }

    /// A down block: the hidden state after each layer (and after the downsampler) are the skips.
    func down(_ input: Tensor, embedding: Tensor?) -> (Tensor, [Tensor]) {
        var hidden = input
        var skips: [Tensor] = []
        for (index, resnet) in resnets.enumerated() {
            hidden = resnet.forward(hidden, embedding: embedding)
            if index < attentions.count { hidden = attentions[index](hidden) }
            skips.append(hidden)
        }
        if let resampler {
            hidden = resampler(hidden)
            skips.append(hidden)
        }
        return (hidden, skips)
    }

    /// A middle block: resnet, then (attention, resnet) pairs.
    func middle(_ input: Tensor, embedding: Tensor?) -> Tensor {
        var hidden = resnets[0].forward(input, embedding: embedding)
        for (index, resnet) in resnets.dropFirst().enumerated() {
            if index < attentions.count { hidden = attentions[index](hidden) }
            hidden = resnet.forward(hidden, embedding: embedding)
        }
        return hidden
    }

    /// An up block: each resnet takes the hidden state concatenated with the latest remaining skip (`skips` is
    /// consumed from its end).
    func up(_ input: Tensor, skips: inout [Tensor], embedding: Tensor?) -> Tensor {
        var hidden = input
        for (index, resnet) in resnets.enumerated() {
            if let skip = skips.popLast() { hidden = Tensor.concatenated([hidden, skip], axis: 1) }
            hidden = resnet.forward(hidden, embedding: embedding)
            if index < attentions.count { hidden = attentions[index](hidden) }
        }
        return resampler.map { $0(hidden) } ?? hidden
    }
}

// MARK: - UNet2DModel

/// The parts of a `UNet2DModel` `config.json` this toolkit runs (others must have their default values).
public struct UNet2DConfiguration: Equatable, Sendable {
    public var inChannels = 3
    public var outChannels = 3
    public var blockOutChannels = [224, 448, 672, 896]
    public var downBlockTypes = ["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"]
    public var upBlockTypes = ["AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"]
    public var layersPerBlock = 2
    public var attentionHeadDimension: Int? = 8
    public var normGroups = 32
    public var normEpsilon: Float = 1e-5
    public var flipSinToCos = true
    public var frequencyShift = 0
    public var downsamplePadding = 1

    public init() {}

    /// The published `CompVis/ldm-super-resolution-4x-openimages` UNet: 6 → 3 channels, [160, 320, 320, 640],
    /// DownBlock2D ×3 + AttnDownBlock2D, AttnUpBlock2D + UpBlock2D ×3, 2 layers per block, attention head dimension 32.
    public static var compVisSuperResolution: UNet2DConfiguration {
        var configuration = UNet2DConfiguration()
        configuration.inChannels = 6
        configuration.blockOutChannels = [160, 320, 320, 640]
        configuration.downBlockTypes = ["DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D"]
        configuration.upBlockTypes = ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"]
        configuration.attentionHeadDimension = 32
        return configuration
    }

    /// Reads `config.json`, refusing what this toolkit does not implement (naming the field).
    public init(json data: Data, file: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw DiffusersError.unsupported(file: file, reason: "not a JSON object")
        }
        let reader = ConfigurationReader(object: object, file: file)
        if let name = object["_class_name"] as? String, name != "UNet2DModel" {
            throw DiffusersError.unsupported(file: file, reason: "a \(name), not a UNet2DModel")
        }
        inChannels = try reader.int("in_channels", default: 3)
        outChannels = try reader.int("out_channels", default: 3)
        blockOutChannels = try reader.ints("block_out_channels", default: [224, 448, 672, 896])
        downBlockTypes = try reader.strings("down_block_types", default: downBlockTypes)
        upBlockTypes = try reader.strings("up_block_types", default: upBlockTypes)
        layersPerBlock = try reader.int("layers_per_block", default: 2)
        attentionHeadDimension = object["attention_head_dim"] is NSNull ? nil : try reader.int("attention_head_dim", default: 8)
        normGroups = try reader.int("norm_num_groups", default: 32)
        normEpsilon = Float(try reader.double("norm_eps", default: 1e-5))
        flipSinToCos = try reader.bool("flip_sin_to_cos", default: true)
        frequencyShift = try reader.int("freq_shift", default: 0)
        downsamplePadding = try reader.int("downsample_padding", default: 1)
        try reader.require("act_fn", equals: "silu")
        try reader.require("time_embedding_type", equals: "positional")
        try reader.require("resnet_time_scale_shift", equals: "default")
        try reader.require("center_input_sample", equals: false)
        try reader.require("class_embed_type", equals: NSNull())
        try reader.require("num_class_embeds", equals: NSNull())
        try reader.require("add_attention", equals: true)
        guard blockOutChannels.count == downBlockTypes.count, downBlockTypes.count == upBlockTypes.count, !blockOutChannels.isEmpty else {
            throw DiffusersError.unsupported(file: file, reason: "block_out_channels, down_block_types and up_block_types differ in length")
        }
        for type in downBlockTypes where !["DownBlock2D", "AttnDownBlock2D"].contains(type) {
            throw DiffusersError.unsupported(file: file, reason: "down block \(type) is not supported (DownBlock2D, AttnDownBlock2D are)")
        }
        for type in upBlockTypes where !["UpBlock2D", "AttnUpBlock2D"].contains(type) {
            throw DiffusersError.unsupported(file: file, reason: "up block \(type) is not supported (UpBlock2D, AttnUpBlock2D are)")
        }
    }
}

/// diffusers' `UNet2DModel` (the unconditional UNet of latent-diffusion pipelines such as LDM super-resolution):
/// sinusoidal time embedding → `time_embedding.linear_1/2`; `conv_in`; `down_blocks`, `mid_block`, `up_blocks` with skip
/// connections; `conv_norm_out`, SiLU, `conv_out`. `forward(x [N, in, H, W], timestep)` → `[N, out, H, W]` (H, W
/// divisible by 2^(levels − 1)).
public final class DiffusersUNet: Module {
    public let configuration: UNet2DConfiguration
    let inputConvolution: Conv2d
    let timeLinear1: Linear, timeLinear2: Linear
    let downBlocks: [DiffusersBlock]
    let middleBlock: DiffusersBlock
    let upBlocks: [DiffusersBlock]
    let outputNorm: GroupNorm
    let outputConvolution: Conv2d

    public init(configuration c: UNet2DConfiguration, generator: RandomGenerator = .shared) {
        configuration = c
        let channels = c.blockOutChannels, embedding = channels[0] * 4
        let (groups, epsilon) = (c.normGroups, c.normEpsilon)
        func resnet(_ input: Int, _ output: Int) -> DiffusionResnetBlock {
            DiffusionResnetBlock(inputChannels: input, outputChannels: output, embeddingChannels: embedding, keys: .diffusers, groups: groups,
                                 epsilon: epsilon, generator: generator)
        }
        func attention(_ count: Int) -> DiffusersAttention {
            DiffusersAttention(channels: count, heads: c.attentionHeadDimension.map { max(1, count / $0) } ?? 1, groups: groups,
                               epsilon: epsilon, generator: generator)
        }
        inputConvolution = Conv2d(inputChannels: c.inChannels, outputChannels: channels[0], kernelSize: 3, padding: 1, generator: generator)
        timeLinear1 = Linear(inputFeatures: channels[0], outputFeatures: embedding, generator: generator)
        timeLinear2 = Linear(inputFeatures: embedding, outputFeatures: embedding, generator: generator)
        var downs: [DiffusersBlock] = []
        var output = channels[0]
        for (level, type) in c.downBlockTypes.enumerated() {
            let input = output
            output = channels[level]
            let resnets = (0..<c.layersPerBlock).map { resnet($0 == 0 ? input : output, output) }
            let attentions = type == "AttnDownBlock2D" ? (0..<c.layersPerBlock).map { _ in attention(output) } : []
            let last = level == channels.count - 1
            downs.append(DiffusersBlock(resnets: resnets, attentions: attentions,
                                        downsampler: last ? nil : DiffusersDownsample(channels: output, padding: c.downsamplePadding, generator: generator)))
        }
        downBlocks = downs
        let deepest = channels[channels.count - 1]
        middleBlock = DiffusersBlock(resnets: [resnet(deepest, deepest), resnet(deepest, deepest)], attentions: [attention(deepest)])
        var ups: [DiffusersBlock] = []
        let reversed = Array(channels.reversed())
        output = reversed[0]
        for (index, type) in c.upBlockTypes.enumerated() {
            let previous = output
            output = reversed[index]
            let input = reversed[min(index + 1, channels.count - 1)]
            let layers = c.layersPerBlock + 1
            let resnets = (0..<layers).map { layer in
                resnet((layer == 0 ? previous : output) + (layer == layers - 1 ? input : output), output)
            }
            let attentions = type == "AttnUpBlock2D" ? (0..<layers).map { _ in attention(output) } : []
            let last = index == channels.count - 1
            ups.append(DiffusersBlock(resnets: resnets, attentions: attentions,
                                      upsampler: last ? nil : DiffusersUpsample(channels: output, generator: generator)))
        }
        upBlocks = ups
        outputNorm = GroupNorm(groups: groups, channels: channels[0], epsilon: epsilon)
        outputConvolution = Conv2d(inputChannels: channels[0], outputChannels: c.outChannels, kernelSize: 3, padding: 1, generator: generator)
        super.init()
        registerModule("conv_in", inputConvolution)
        let time = Module()
        time.registerModule("linear_1", timeLinear1)
        time.registerModule("linear_2", timeLinear2)
        registerModule("time_embedding", time)
        registerModule("down_blocks", Sequential(downBlocks))
        registerModule("mid_block", middleBlock)
        registerModule("up_blocks", Sequential(upBlocks))
        registerModule("conv_norm_out", outputNorm)
        registerModule("conv_out", outputConvolution)
    }

    /// diffusers' `get_timestep_embedding`: for each timestep, sin and cos of t·exp(−ln(10⁴)·i/(half − shift)),
    /// cos first when `flipSinToCos`. `[N]` timesteps → `[N, dimension]`.
    static func sinusoidalEmbedding(_ timesteps: [Float], dimension: Int, flipSinToCos: Bool, shift: Int) -> Tensor {
        let half = dimension / 2
        var values = [Float](repeating: 0, count: timesteps.count * dimension)
        for (row, time) in timesteps.enumerated() {
            for index in 0..<half {
                let frequency = Float(exp(-log(10000.0) * Double(index) / Double(half - shift)))
                let angle = time * frequency
                let (first, second) = flipSinToCos ? (cos(angle), sin(angle)) : (sin(angle), cos(angle))
                values[row * dimension + index] = first
                values[row * dimension + half + index] = second
            }
        }
        return Tensor(shape: [timesteps.count, dimension], scalars: values)
    }

    /// The predicted noise for `input` at `timestep` (the same for every image of the batch).
    public func forward(_ input: Tensor, timestep: Int) -> Tensor {
        let timesteps = [Float](repeating: Float(timestep), count: input.shape[0])
        let sinusoid = DiffusersUNet.sinusoidalEmbedding(timesteps, dimension: configuration.blockOutChannels[0],
                                                         flipSinToCos: configuration.flipSinToCos, shift: configuration.frequencyShift)
        let embedding = timeLinear2(timeLinear1(sinusoid).silu())
        var hidden = inputConvolution(input)
        var skips = [hidden]
        for block in downBlocks {
            let (next, states) = block.down(hidden, embedding: embedding)
            hidden = next
            skips += states
        }
        hidden = middleBlock.middle(hidden, embedding: embedding)
        for block in upBlocks { hidden = block.up(hidden, skips: &skips, embedding: embedding) }
        return outputConvolution(outputNorm(hidden).silu())
    }

    public override func forward(_ input: Tensor) -> Tensor { forward(input, timestep: 0) }
}

// MARK: - VQModel

/// The parts of a `VQModel` `config.json` this toolkit runs.
public struct VQModelConfiguration: Equatable, Sendable {
    public var inChannels = 3
    public var outChannels = 3
    public var blockOutChannels = [128, 256, 512]
    public var layersPerBlock = 2
    public var latentChannels = 3
    public var codebookSize = 8192
    public var codeDimension: Int?
    public var normGroups = 32
    public var middleAttention = true

    public init() {}

    /// The published model's VQ autoencoder: [128, 256, 512], 2 layers per block, 3 latent channels, 8192 codes.
    public static var compVisSuperResolution: VQModelConfiguration {
        var configuration = VQModelConfiguration()
        configuration.codebookSize = 8192
        return configuration
    }

    public init(json data: Data, file: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw DiffusersError.unsupported(file: file, reason: "not a JSON object")
        }
        if let name = object["_class_name"] as? String, name != "VQModel" {
            throw DiffusersError.unsupported(file: file, reason: "a \(name), not a VQModel")
        }
        let reader = ConfigurationReader(object: object, file: file)
        inChannels = try reader.int("in_channels", default: 3)
        outChannels = try reader.int("out_channels", default: 3)
        blockOutChannels = try reader.ints("block_out_channels", default: [64])
        layersPerBlock = try reader.int("layers_per_block", default: 1)
        latentChannels = try reader.int("latent_channels", default: 3)
        codebookSize = try reader.int("num_vq_embeddings", default: 256)
        codeDimension = object["vq_embed_dim"] is NSNull || object["vq_embed_dim"] == nil ? nil : try reader.int("vq_embed_dim", default: 3)
        normGroups = try reader.int("norm_num_groups", default: 32)
        middleAttention = try reader.bool("mid_block_add_attention", default: true)
        try reader.require("act_fn", equals: "silu")
        try reader.require("norm_type", equals: "group")
        for type in try reader.strings("down_block_types", default: ["DownEncoderBlock2D"]) where type != "DownEncoderBlock2D" {
            throw DiffusersError.unsupported(file: file, reason: "down block \(type) is not supported (DownEncoderBlock2D is)")
        }
        for type in try reader.strings("up_block_types", default: ["UpDecoderBlock2D"]) where type != "UpDecoderBlock2D" {
            throw DiffusersError.unsupported(file: file, reason: "up block \(type) is not supported (UpDecoderBlock2D is)")
        }
    }
}

/// diffusers' VQ autoencoder (`VQModel`): `encoder` → `quant_conv` → nearest codebook entry (`quantize.embedding`,
/// L2) → `post_quant_conv` → `decoder`. Downsampling factor 2^(levels − 1).
public final class DiffusersVQModel: Module {
    public let configuration: VQModelConfiguration
    let encoderIn: Conv2d, encoderBlocks: [DiffusersBlock], encoderMiddle: DiffusersBlock, encoderNorm: GroupNorm, encoderOut: Conv2d
    let quantConvolution: Conv2d, codebook: Tensor, postQuantConvolution: Conv2d
    let decoderIn: Conv2d, decoderMiddle: DiffusersBlock, decoderBlocks: [DiffusersBlock], decoderNorm: GroupNorm, decoderOut: Conv2d

    public init(configuration c: VQModelConfiguration, generator: RandomGenerator = .shared) {
        configuration = c
        let channels = c.blockOutChannels, groups = c.normGroups, epsilon: Float = 1e-6
        let codeDimension = c.codeDimension ?? c.latentChannels
        func resnet(_ input: Int, _ output: Int) -> DiffusionResnetBlock {
            DiffusionResnetBlock(inputChannels: input, outputChannels: output, keys: .diffusers, groups: groups, epsilon: epsilon,
                                 generator: generator)
        }
        func middle(_ count: Int) -> DiffusersBlock {
            DiffusersBlock(resnets: [resnet(count, count), resnet(count, count)],
                           attentions: c.middleAttention ? [DiffusersAttention(channels: count, heads: 1, groups: groups, epsilon: epsilon,
                                                                               generator: generator)] : [])
        }
        encoderIn = Conv2d(inputChannels: c.inChannels, outputChannels: channels[0], kernelSize: 3, padding: 1, generator: generator)
        var blocks: [DiffusersBlock] = []
        var output = channels[0]
        for level in channels.indices {
            let input = output
            output = channels[level]
            let last = level == channels.count - 1
            blocks.append(DiffusersBlock(resnets: (0..<c.layersPerBlock).map { resnet($0 == 0 ? input : output, output) }, attentions: [],
                                         downsampler: last ? nil : DiffusersDownsample(channels: output, padding: 0, generator: generator)))
        }
        encoderBlocks = blocks
        let deepest = channels[channels.count - 1]
        encoderMiddle = middle(deepest)
        encoderNorm = GroupNorm(groups: groups, channels: deepest, epsilon: epsilon)
        encoderOut = Conv2d(inputChannels: deepest, outputChannels: c.latentChannels, kernelSize: 3, padding: 1, generator: generator)
        quantConvolution = Conv2d(inputChannels: c.latentChannels, outputChannels: codeDimension, kernelSize: 1, generator: generator)
        codebook = Tensor.randomUniform([c.codebookSize, codeDimension], low: -1 / Float(c.codebookSize), high: 1 / Float(c.codebookSize),
                                        generator: generator)
        postQuantConvolution = Conv2d(inputChannels: codeDimension, outputChannels: c.latentChannels, kernelSize: 1, generator: generator)
        decoderIn = Conv2d(inputChannels: c.latentChannels, outputChannels: deepest, kernelSize: 3, padding: 1, generator: generator)
        decoderMiddle = middle(deepest)
        blocks = []
        let reversed = Array(channels.reversed())
        output = reversed[0]
        for (index, count) in reversed.enumerated() {
            let input = output
            output = count
            let last = index == channels.count - 1
            blocks.append(DiffusersBlock(resnets: (0...c.layersPerBlock).map { resnet($0 == 0 ? input : output, output) }, attentions: [],
                                         upsampler: last ? nil : DiffusersUpsample(channels: output, generator: generator)))
        }
        decoderBlocks = blocks
        decoderNorm = GroupNorm(groups: groups, channels: channels[0], epsilon: epsilon)
        decoderOut = Conv2d(inputChannels: channels[0], outputChannels: c.outChannels, kernelSize: 3, padding: 1, generator: generator)
        super.init()
        let encoder = Module(), decoder = Module(), quantizer = Module(), embedding = Module()
        encoder.registerModule("conv_in", encoderIn)
        encoder.registerModule("down_blocks", Sequential(encoderBlocks))
        encoder.registerModule("mid_block", encoderMiddle)
        encoder.registerModule("conv_norm_out", encoderNorm)
        encoder.registerModule("conv_out", encoderOut)
        embedding.registerParameter("weight", codebook)
        quantizer.registerModule("embedding", embedding)
        decoder.registerModule("conv_in", decoderIn)
        decoder.registerModule("mid_block", decoderMiddle)
        decoder.registerModule("up_blocks", Sequential(decoderBlocks))
        decoder.registerModule("conv_norm_out", decoderNorm)
        decoder.registerModule("conv_out", decoderOut)
        registerModule("encoder", encoder)
        registerModule("quant_conv", quantConvolution)
        registerModule("quantize", quantizer)
        registerModule("post_quant_conv", postQuantConvolution)
        registerModule("decoder", decoder)
    }

    /// Image `[N, 3, H, W]` in [−1, 1] → latents `[N, latent, H/f, W/f]` (before quantisation, as `VQModel.encode`).
    public func encode(_ image: Tensor) -> Tensor {
        var hidden = encoderIn(image)
        for block in encoderBlocks { hidden = block.down(hidden, embedding: nil).0 }
        hidden = encoderMiddle.middle(hidden, embedding: nil)
        return quantConvolution(encoderOut(encoderNorm(hidden).silu()))
    }

    /// Each latent vector replaced by its nearest codebook entry (L2; the first on ties), as `VectorQuantizer`.
    public func quantize(_ latents: Tensor) -> Tensor {
        let (batch, dimension, height, width) = (latents.shape[0], latents.shape[1], latents.shape[2], latents.shape[3])
        let vectors = latents.permuted([0, 2, 3, 1]).reshaped([batch * height * width, dimension])
        let entries = codebook.shape[0]
        // ‖z − e‖² = ‖z‖² − 2 z·e + ‖e‖²: the cross term by one GEMM, the argmin per row.
        let products = vectors.matmul(codebook, transposeOther: true)
        var norms = [Float](repeating: 0, count: entries)
        for entry in 0..<entries {
            var total: Float = 0
            for component in 0..<dimension { let value = codebook.pointer[entry * dimension + component]; total += value * value }
            norms[entry] = total
        }
        let chosen = Tensor(uninitializedShape: [batch * height * width, dimension])
        for row in 0..<(batch * height * width) {
            var best = 0, bestDistance = Float.infinity
            let line = products.pointer + row * entries
            for entry in 0..<entries {
                let distance = norms[entry] - 2 * line[entry]
                if distance < bestDistance { (best, bestDistance) = (entry, distance) }
            }
            (chosen.pointer + row * dimension).update(from: codebook.pointer + best * dimension, count: dimension)
        }
        return chosen.reshaped([batch, height, width, dimension]).permuted([0, 3, 1, 2])
    }

    /// Latents → image `[N, 3, H·f, W·f]` (quantised first, as `VQModel.decode`).
    public func decode(_ latents: Tensor) -> Tensor {
        var hidden = decoderIn(postQuantConvolution(quantize(latents)))
        hidden = decoderMiddle.middle(hidden, embedding: nil)
        var none: [Tensor] = []
        for block in decoderBlocks { hidden = block.up(hidden, skips: &none, embedding: nil) }
        return decoderOut(decoderNorm(hidden).silu())
    }

    public override func forward(_ input: Tensor) -> Tensor { decode(encode(input)) }
}

/// Typed reads of a diffusers `config.json`, naming the file and field on a mismatch.
struct ConfigurationReader {
    let object: [String: Any]
    let file: String

    func int(_ key: String, default value: Int) throws -> Int {
        guard let raw = object[key], !(raw is NSNull) else { return value }
        guard let number = raw as? NSNumber, Double(number.intValue) == number.doubleValue else {
            throw DiffusersError.unsupported(file: file, reason: "\(key) must be an integer (got \(raw))")
        }
        return number.intValue
    }

    func double(_ key: String, default value: Double) throws -> Double {
        guard let raw = object[key], !(raw is NSNull) else { return value }
        guard let number = raw as? NSNumber else { throw DiffusersError.unsupported(file: file, reason: "\(key) must be a number (got \(raw))") }
        return number.doubleValue
    }

    func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let raw = object[key], !(raw is NSNull) else { return value }
        guard let flag = raw as? Bool else { throw DiffusersError.unsupported(file: file, reason: "\(key) must be true or false (got \(raw))") }
        return flag
    }

    func ints(_ key: String, default value: [Int]) throws -> [Int] {
        guard let raw = object[key] else { return value }
        guard let list = raw as? [NSNumber] else { throw DiffusersError.unsupported(file: file, reason: "\(key) must be a list of integers") }
        return list.map(\.intValue)
    }

    func strings(_ key: String, default value: [String]) throws -> [String] {
        guard let raw = object[key] else { return value }
        guard let list = raw as? [String] else { throw DiffusersError.unsupported(file: file, reason: "\(key) must be a list of names") }
        return list
    }

    /// Refuses a field whose value (when present) differs from the one this toolkit implements.
    func require(_ key: String, equals expected: Any) throws {
        guard let raw = object[key] else { return }
        let same: Bool
        switch expected {
        case let text as String: same = (raw as? String) == text
        case let flag as Bool: same = (raw as? Bool) == flag
        case is NSNull: same = raw is NSNull
        default: same = false
        }
        if !same { throw DiffusersError.unsupported(file: file, reason: "\(key) \(raw) is not supported (only \(expected))") }
    }
}
