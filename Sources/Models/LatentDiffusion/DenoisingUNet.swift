import Foundation
import NN
import Tensor

/// The shape of a denoising UNet (latent diffusion's `UNetModel` options, simplified to single-head attention).
public struct DenoisingUNetConfiguration: Equatable, Sendable, Codable {
    /// Channels in: the noisy latent plus any condition concatenated to it.
    public var inputChannels = 7
    /// Channels out: the latent's.
    public var outputChannels = 4
    /// Channels of the first level (`model_channels`); the time embedding has 4× as many.
    public var channels = 64
    /// Channel multiplier per level (`channel_mult`); the grid is halved between levels.
    public var multipliers = [1, 2, 2]
    /// Residual blocks per level on the way down (`num_res_blocks`; one more on the way up).
    public var blocksPerLevel = 2
    /// Levels (0 = full latent grid) whose blocks are followed by self-attention; the middle always has it.
    public var attentionLevels = [1, 2]
    /// Adds an embedding of a condition noise level (the augmentation level of a low-resolution condition).
    public var conditionsOnNoiseLevel = false
    public var dropout: Float = 0

    public init() {}

    /// The grid side must be divisible by this.
    public var sideMultiple: Int { 1 << (multipliers.count - 1) }
}

/// Sinusoidal embedding of scalars (timesteps): `[cos(t·ω_0) … cos(t·ω_{d/2−1}), sin(t·ω_0) …]`,
/// ω_i = 10000^(−i/(d/2)), as latent diffusion's `timestep_embedding`. `values.count × dimension`, no gradient.
public func sinusoidalEmbedding(_ values: [Float], dimension: Int) -> Tensor {
    precondition(dimension % 2 == 0, "the embedding dimension must be even")
    let half = dimension / 2
    let output = Tensor(uninitializedShape: [values.count, dimension])
    for (row, value) in values.enumerated() {
        for index in 0..<half {
            let frequency = Foundation.exp(-Foundation.log(10000.0) * Double(index) / Double(half))
            let argument = Double(value) * frequency
            output.pointer[row * dimension + index] = Float(Foundation.cos(argument))
            output.pointer[row * dimension + half + index] = Float(Foundation.sin(argument))
        }
    }
    return output
}

/// An embedding MLP: `Linear(d, 4d)`, SiLU, `Linear(4d, 4d)` (keys `0`, `2`, as latent diffusion's `time_embed`).
final class EmbeddingMLP: Module {
    let first: Linear, second: Linear

    init(channels: Int, generator: RandomGenerator) {
        first = Linear(inputFeatures: channels, outputFeatures: 4 * channels, generator: generator)
        second = Linear(inputFeatures: 4 * channels, outputFeatures: 4 * channels, generator: generator)
        super.init()
        registerModule("0", first)
        registerModule("2", second)
    }

    override func forward(_ input: Tensor) -> Tensor { second(first(input).silu()) }
}

/// The denoising UNet of latent diffusion: a sinusoidal timestep embedding through an MLP, residual blocks that add
/// it, self-attention at the chosen levels and in the middle, skip connections from every down block to the up path,
/// stride-2 convolutions down and nearest + conv up, a zero-initialised output convolution.
///
/// `forward(_:timesteps:noiseLevels:)`: `[N, inputChannels, h, w]` (h, w divisible by ``DenoisingUNetConfiguration/sideMultiple``)
/// → `[N, outputChannels, h, w]`. Keys: `time_embed.*`, `noise_level_embed.*`, `conv_in`, `down.i.block.j`,
/// `down.i.attn.j`, `down.i.downsample`, `mid.block_1/attn_1/block_2`, `up.i.block.j`, `up.i.attn.j`, `up.i.upsample`,
/// `norm_out`, `conv_out`.
public final class DenoisingUNet: Module {
    public let configuration: DenoisingUNetConfiguration
    let timeEmbedding: EmbeddingMLP
    let noiseLevelEmbedding: EmbeddingMLP?
    let inputConvolution: Conv2d
    let downLevels: [DiffusionLevel]
    let middle: DiffusionMiddle
    /// Deepest first.
    let upLevels: [DiffusionLevel]
    let outputNorm: GroupNorm
    let outputConvolution: Conv2d

    public init(_ configuration: DenoisingUNetConfiguration, generator: RandomGenerator = .shared) {
        self.configuration = configuration
        let base = configuration.channels, embedding = 4 * base, dropout = configuration.dropout
        let count = configuration.multipliers.count
        timeEmbedding = EmbeddingMLP(channels: base, generator: generator)
        noiseLevelEmbedding = configuration.conditionsOnNoiseLevel ? EmbeddingMLP(channels: base, generator: generator) : nil
        inputConvolution = Conv2d(inputChannels: configuration.inputChannels, outputChannels: base, kernelSize: 3, padding: 1,
                                  generator: generator)
        // Every down block's output (and every downsampling's) is a skip, consumed in reverse on the way up.
        var skipChannels = [base]
        var channels = base
        var builtDown: [DiffusionLevel] = []
        for (level, multiplier) in configuration.multipliers.enumerated() {
            let output = base * multiplier
            let last = level == count - 1
            let downsample = Conv2d(inputChannels: output, outputChannels: output, kernelSize: 3, stride: 2, padding: 1, generator: generator)
            builtDown.append(DiffusionLevel(blockInputs: [channels] + Array(repeating: output, count: configuration.blocksPerLevel - 1),
                                            outputChannels: output, embeddingChannels: embedding, dropout: dropout,
                                            attention: configuration.attentionLevels.contains(level),
                                            resample: last ? nil : ("downsample", downsample), generator: generator))
            skipChannels += Array(repeating: output, count: configuration.blocksPerLevel + (last ? 0 : 1))
            channels = output
        }
        downLevels = builtDown
        middle = DiffusionMiddle(channels: channels, embeddingChannels: embedding, dropout: dropout, generator: generator)
        var builtUp: [DiffusionLevel] = []
        for level in (0..<count).reversed() {
            let output = base * configuration.multipliers[level]
            var inputs: [Int] = []
            for _ in 0...configuration.blocksPerLevel {
                inputs.append(channels + skipChannels.removeLast())
                channels = output
            }
            builtUp.append(DiffusionLevel(blockInputs: inputs, outputChannels: output, embeddingChannels: embedding, dropout: dropout,
                                          attention: configuration.attentionLevels.contains(level),
                                          resample: level == 0 ? nil : ("upsample", DiffusionUpsample(channels: output, generator: generator)),
                                          generator: generator))
        }
        upLevels = builtUp
        outputNorm = DiffusionLayers.normalization(channels)
        outputConvolution = Conv2d(inputChannels: channels, outputChannels: configuration.outputChannels, kernelSize: 3, padding: 1,
                                   generator: generator)
        // Zero-initialised output (latent diffusion's zero_module): training starts from predicting 0.
        outputConvolution.weight.pointer.update(repeating: 0, count: outputConvolution.weight.count)
        outputConvolution.bias?.pointer.update(repeating: 0, count: outputConvolution.bias!.count)
        super.init()
        registerModule("time_embed", timeEmbedding)
        if let noiseLevelEmbedding { registerModule("noise_level_embed", noiseLevelEmbedding) }
        registerModule("conv_in", inputConvolution)
        registerModule("down", Sequential(downLevels))
        registerModule("mid", middle)
        registerModule("up", Sequential(upLevels.reversed()))
        registerModule("norm_out", outputNorm)
        registerModule("conv_out", outputConvolution)
    }

    /// Predicts ε or v for `input` at `timesteps` (one per sample; and `noiseLevels`, one per sample, when the model
    /// conditions on a noise level).
    public func forward(_ input: Tensor, timesteps: [Float], noiseLevels: [Float]? = nil) -> Tensor {
        precondition(input.rank == 4 && input.shape[1] == configuration.inputChannels, "expected [N, \(configuration.inputChannels), h, w], got \(input.shape)")
        precondition(input.shape[2] % configuration.sideMultiple == 0 && input.shape[3] % configuration.sideMultiple == 0,
                     "the grid \(input.shape[2])×\(input.shape[3]) must be divisible by \(configuration.sideMultiple)")
        precondition(timesteps.count == input.shape[0], "one timestep per sample")
        var embedding = timeEmbedding(sinusoidalEmbedding(timesteps, dimension: configuration.channels))
        if let noiseLevelEmbedding {
            let levels = noiseLevels ?? [Float](repeating: 0, count: input.shape[0])
            precondition(levels.count == input.shape[0], "one noise level per sample")
            embedding = embedding + noiseLevelEmbedding(sinusoidalEmbedding(levels, dimension: configuration.channels))
        }
        var hidden = inputConvolution(input)
        var skips = [hidden]
        for level in downLevels {
            for index in level.blocks.indices {
                hidden = level.block(index, hidden, embedding: embedding)
                skips.append(hidden)
            }
            if let resample = level.resample {
                hidden = resample(hidden)
                skips.append(hidden)
            }
        }
        hidden = middle.forward(hidden, embedding: embedding)
        for level in upLevels {
            for index in level.blocks.indices {
                hidden = level.block(index, Tensor.concatenated([hidden, skips.removeLast()], axis: 1), embedding: embedding)
            }
            if let resample = level.resample { hidden = resample(hidden) }
        }
        return outputConvolution(outputNorm(hidden).silu())
    }

    public override func forward(_ input: Tensor) -> Tensor {
        forward(input, timesteps: [Float](repeating: 0, count: input.shape[0]))
    }
}
