import Foundation
import NN
import Tensor

/// Blur-pool downsampling of taesung/contrastive-unpaired-translation (`Downsample`, Zhang 2019): reflection padding
/// by 1, then a depthwise 3×3 binomial filter ([1, 2, 1]ᵀ[1, 2, 1] / 16) at stride 2. Buffer `filt [C, 1, 3, 3]`, as the
/// reference's state dict. `[N, C, H, W] → [N, C, ⌈H/2⌉, ⌈W/2⌉]`.
public final class BlurDownsample: Module {
    public let filter: Tensor

    public init(channels: Int) {
        filter = BlurDownsample.binomial(size: 3, channels: channels, scale: 1)
        super.init()
        registerBuffer("filt", filter)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        Tensor.conv2d(input.padded(1, mode: .reflect), weight: filter, stride: 2, groups: input.shape[1])
    }

    /// The outer product of the binomial row of `size` taps with itself, normalised to sum `scale`, one per channel.
    static func binomial(size: Int, channels: Int, scale: Float) -> Tensor {
        let row: [Float] = size == 3 ? [1, 2, 1] : [1, 3, 3, 1]
        let total = row.reduce(0, +) * row.reduce(0, +)
        let plane = row.flatMap { a in row.map { a * $0 * scale / total } }
        return Tensor(shape: [channels, 1, size, size], scalars: Array((0..<channels).map { _ in plane }.joined()))
    }
}

/// The reference's anti-aliased ×2 upsampling (`Upsample`, filter size 4): replication padding by 1, a depthwise
/// transposed convolution with the 4×4 binomial filter ([1, 3, 3, 1]ᵀ[1, 3, 3, 1] / 64 · 4) at stride 2 and padding 2,
/// then the first row and column and the last row and column dropped. Buffer `filt [C, 1, 4, 4]`.
/// `[N, C, H, W] → [N, C, 2H, 2W]`.
public final class BlurUpsample: Module {
    public let filter: Tensor

    public init(channels: Int) {
        filter = BlurDownsample.binomial(size: 4, channels: channels, scale: 4)
        super.init()
        registerBuffer("filt", filter)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        let (height, width) = (input.shape[2], input.shape[3])
        let full = Tensor.convTranspose2d(input.padded(1, mode: .replicate), weight: filter, stride: 2, padding: 2, groups: input.shape[1])
        return full.sliced(axis: 2, 1..<(2 * height + 1)).sliced(axis: 3, 1..<(2 * width + 1))
    }
}

/// The ResNet generator of CUT/FastCUT (taesung/contrastive-unpaired-translation `ResnetGenerator` with its default
/// anti-aliasing): as CycleGAN's, but each stride-2 convolution is a stride-1 3×3 convolution, norm and ReLU followed
/// by ``BlurDownsample``, and each transposed convolution is ``BlurUpsample`` followed by a 3×3 convolution, norm and
/// ReLU. Keys `model.0` … `model.31` (9 blocks) as the reference's, blur filters included (`model.7.filt`, …), so its
/// published generators load. Its layers 0, 4, 8, 12 and 16 are where CUT's PatchNCE reads features.
///
/// Input `[N, inputChannels, H, W]` with H and W divisible by 4; output `[N, outputChannels, H, W]` in [−1, 1].
public final class AntialiasedResnetGenerator: Module {
    public let model: Sequential

    public init(inputChannels: Int = 3, outputChannels: Int = 3, filters: Int = 64, blocks: Int = 9,
                normalization: NormalizationKind = .instance, dropout: Bool = false, generator: RandomGenerator = .shared) {
        let layers = ResnetGenerator.layers(inputChannels: inputChannels, outputChannels: outputChannels, filters: filters, blocks: blocks,
                                            normalization: normalization, dropout: dropout, antialiased: true, generator: generator)
        model = Sequential(layers)
        super.init()
        registerModule("model", model)
    }

    public override func forward(_ input: Tensor) -> Tensor { run(input, keeping: [], whole: true).output }

    /// The outputs of the layers at `indices` (ascending), running only as far as the last (CUT's `encode_only`).
    public func features(_ input: Tensor, at indices: [Int]) -> [Tensor] { run(input, keeping: indices, whole: false).features }

    /// The whole forward pass (`[N, outputChannels, H, W]`) and, on the way, the outputs of the layers at `indices`
    /// (ascending) — the same tensors ``features(_:at:)`` computes, without a second pass.
    public func forward(_ input: Tensor, keeping indices: [Int]) -> (output: Tensor, features: [Tensor]) {
        let result = run(input, keeping: indices, whole: true)
        return (result.output, result.features)
    }

    private func run(_ input: Tensor, keeping indices: [Int], whole: Bool) -> (output: Tensor, features: [Tensor]) {
        precondition(!whole || (input.rank == 4 && input.shape[2] % 4 == 0 && input.shape[3] % 4 == 0),
                     "AntialiasedResnetGenerator needs [N, C, H, W] with sides divisible by 4, got \(input.shape)")
        var current = input
        var kept: [Tensor] = []
        for (index, layer) in model.layers.enumerated() {
            current = layer(current)
            if indices.contains(index) { kept.append(current) }
            if !whole, index == indices.last { break }
        }
        return (current, kept)
    }
}

extension GeneratorFamily {
    /// CUT's anti-aliased ResNet generators `cut_resnet_<N>blocks` (the reference calls them `resnet_9blocks` too;
    /// their blur filters tell them apart): sides multiple of 4, instance norm, tileable as CycleGAN's (a bounded
    /// receptive field, total stride 4).
    public static let antialiasedResnet = GeneratorFamily(
        name: "cut_resnet", commonNames: ["cut_resnet_9blocks"], defaultNormalization: .instance, isTileable: true,
        size: { name in
            guard name.hasPrefix("cut_resnet_"), name.hasSuffix("blocks"), let blocks = Int(name.dropFirst(11).dropLast(6)), blocks >= 1
            else { return nil }
            return blocks
        },
        nameOfSize: { "cut_resnet_\($0)blocks" }, sideMultipleOfSize: { _ in 4 },
        build: { architecture, random in
            AntialiasedResnetGenerator(inputChannels: architecture.inputChannels, outputChannels: architecture.outputChannels,
                                       filters: architecture.filters, blocks: architecture.depth, normalization: architecture.normalization,
                                       dropout: architecture.dropout, generator: random)
        },
        detect: { shapes, path in
            guard shapes.keys.contains(where: { $0.hasSuffix(".filt") }) else { return nil }
            return try ResnetGenerator.detect(shapes.filter { !$0.key.hasSuffix(".filt") }, path)
        })
}
