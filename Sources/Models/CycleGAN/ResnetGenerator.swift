import Foundation
import NN
import Tensor

/// Normalisation choices of the reference CycleGAN/pix2pix networks (`--norm`).
public enum NormalizationKind: String, Sendable, CaseIterable {
    /// InstanceNorm2d(affine: false) — CycleGAN's default. Convolutions keep their bias.
    case instance
    /// BatchNorm2d(affine: true) with running statistics — pix2pix's default. Convolutions drop their bias.
    case batch
    /// No normalisation.
    case none
    /// ``VirtualBatchNorm2d`` (Salimans et al. 2016): a reference batch's statistics with the example's own.
    /// Convolutions drop their bias.
    case virtualBatch = "virtual_batch"

    /// Whether convolutions followed by this norm carry a bias (the reference's `use_bias`).
    public var convolutionsUseBias: Bool { self != .batch && self != .virtualBatch }

    /// A norm layer for `channels`.
    public func makeLayer(channels: Int) -> Module {
        switch self {
        case .instance: return InstanceNorm2d(channels: channels, affine: false)
        case .batch: return BatchNorm2d(channels: channels)
        case .none: return Identity()
        case .virtualBatch: return VirtualBatchNorm2d(channels: channels)
        }
    }
}

extension GeneratorFamily {
    /// The CycleGAN ResNet generators `resnet_<N>blocks`: sides multiple of 4, instance norm, tileable.
    public static let resnet = GeneratorFamily(
        name: "resnet", commonNames: ["resnet_9blocks", "resnet_6blocks"], defaultNormalization: .instance, isTileable: true,
        size: ResnetGenerator.blocks(named:), nameOfSize: { "resnet_\($0)blocks" }, sideMultipleOfSize: { _ in 4 },
        build: ResnetGenerator.make, detect: ResnetGenerator.detect)
}

extension ResnetGenerator {
    /// `resnet_9blocks` → 9.
    @Sendable static func blocks(named name: String) -> Int? {
        guard name.hasPrefix("resnet_"), name.hasSuffix("blocks"), let blocks = Int(name.dropFirst(7).dropLast(6)), blocks >= 1 else { return nil }
        return blocks
    }

    @Sendable static func make(_ architecture: GeneratorArchitecture, _ random: RandomGenerator) -> Module {
        ResnetGenerator(inputChannels: architecture.inputChannels, outputChannels: architecture.outputChannels,
                        filters: architecture.filters, blocks: architecture.depth, normalization: architecture.normalization,
                        dropout: architecture.dropout, generator: random)
    }

    /// `model.1.weight` is the 7×7 stem `[ngf, in, 7, 7]`; blocks are the distinct `model.N.conv_block` indices;
    /// `conv_block.6` means dropout; an affine `model.2.weight` means batch norm.
    @Sendable static func detect(_ shapes: [String: [Int]], _ path: String) throws -> GeneratorArchitecture? {
        guard let stem = shapes["model.1.weight"], stem.count == 4, stem[2] == 7,
              !shapes.keys.contains(where: { $0.hasSuffix(".filt") }) else { return nil }
        let blocks = Set(shapes.keys.compactMap { key -> Int? in
            let parts = key.split(separator: ".")
            return parts.count > 2 && parts[2] == "conv_block" ? Int(parts[1]) : nil
        })
        guard !blocks.isEmpty else { throw ModelError.undetectable(path: path, reason: "a 7×7 stem but no residual blocks") }
        let sevenBySeven = shapes.filter { $0.key.hasSuffix(".weight") && $0.value.count == 4 && $0.value[2] == 7 }
        let last = sevenBySeven.max { (Int($0.key.split(separator: ".")[1]) ?? 0) < (Int($1.key.split(separator: ".")[1]) ?? 0) }
        let normalization: NormalizationKind = shapes["model.2.weight"] != nil ? .batch : .instance
        let dropout = shapes.keys.contains { $0.hasSuffix("conv_block.6.weight") }
        return GeneratorArchitecture(kind: .resnet, depth: blocks.count, filters: stem[0], inputChannels: stem[1],
                                     outputChannels: last?.value[0] ?? 3, normalization: normalization, dropout: dropout)
    }
}

extension ResnetGenerator {
    /// The layers of a ResNet generator: c7s1-ngf; two ×2 downsamplings (a stride-2 3×3 convolution, norm, ReLU — or,
    /// `antialiased` as CUT's, a stride-1 convolution, norm, ReLU and ``BlurDownsample``); `blocks` residual blocks at
    /// 4·ngf; two ×2 upsamplings (a stride-2 transposed convolution, norm, ReLU — or ``BlurUpsample``, a 3×3
    /// convolution, norm, ReLU); c7s1-out; tanh.
    static func layers(inputChannels: Int, outputChannels: Int, filters: Int, blocks: Int, normalization: NormalizationKind,
                       dropout: Bool, antialiased: Bool, generator: RandomGenerator) -> [Module] {
        let bias = normalization.convolutionsUseBias
        var layers: [Module] = [
            Pad2d(3, mode: .reflect),
            Conv2d(inputChannels: inputChannels, outputChannels: filters, kernelSize: 7, bias: bias, generator: generator),
            normalization.makeLayer(channels: filters),
            Activation(.relu),
        ]
        for level in 0..<2 {
            let channels = filters << level
            layers += [
                Conv2d(inputChannels: channels, outputChannels: channels * 2, kernelSize: 3, stride: antialiased ? 1 : 2, padding: 1,
                       bias: bias, generator: generator),
                normalization.makeLayer(channels: channels * 2),
                Activation(.relu),
            ] + (antialiased ? [BlurDownsample(channels: channels * 2)] : [])
        }
        for _ in 0..<blocks {
            layers.append(ResnetBlock(channels: filters * 4, normalization: normalization, dropout: dropout, generator: generator))
        }
        for level in 0..<2 {
            let channels = filters << (2 - level)
            let upsampling: [Module] = antialiased
                ? [BlurUpsample(channels: channels),
                   Conv2d(inputChannels: channels, outputChannels: channels / 2, kernelSize: 3, padding: 1, bias: bias, generator: generator)]
                : [ConvTranspose2d(inputChannels: channels, outputChannels: channels / 2, kernelSize: 3, stride: 2, padding: 1,
                                   outputPadding: 1, bias: bias, generator: generator)]
            layers += upsampling + [normalization.makeLayer(channels: channels / 2), Activation(.relu)]
        }
        return layers + [
            Pad2d(3, mode: .reflect),
            Conv2d(inputChannels: filters, outputChannels: outputChannels, kernelSize: 7, generator: generator),
            Activation(.tanh),
        ]
    }
}

/// Residual block of the ResNet generator: `x + [pad, conv3×3, norm, ReLU, (dropout), pad, conv3×3, norm](x)`.
/// Keys: `conv_block.1.*`, `conv_block.5.*` (`conv_block.6.*` with dropout), matching the reference.
public final class ResnetBlock: Module {
    public let convolutionBlock: Sequential

    public init(channels: Int, normalization: NormalizationKind, dropout: Bool, generator: RandomGenerator = .shared) {
        let bias = normalization.convolutionsUseBias
        var layers: [Module] = [
            Pad2d(1, mode: .reflect),
            Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 3, bias: bias, generator: generator),
            normalization.makeLayer(channels: channels),
            Activation(.relu),
        ]
        if dropout { layers.append(Dropout(probability: 0.5, generator: generator)) }
        layers += [
            Pad2d(1, mode: .reflect),
            Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 3, bias: bias, generator: generator),
            normalization.makeLayer(channels: channels),
        ]
        convolutionBlock = Sequential(layers)
        super.init()
        registerModule("conv_block", convolutionBlock)
    }

    /// `[N, C, H, W] → [N, C, H, W]`.
    public override func forward(_ input: Tensor) -> Tensor { input + convolutionBlock(input) }
}

/// The CycleGAN ResNet generator (`resnet_9blocks` / `resnet_6blocks` in junyanz/pytorch-CycleGAN-and-pix2pix):
/// c7s1-ngf, two stride-2 convs, `blocks` residual blocks at 4·ngf, two stride-2 transposed convs, c7s1-out, tanh.
///
/// Input `[N, inputChannels, H, W]` with H and W divisible by 4; output `[N, outputChannels, H, W]` in [−1, 1].
/// State-dict keys are `model.0` … `model.27` as in the reference, so official checkpoints map one to one.
public final class ResnetGenerator: Module {
    public let model: Sequential

    public init(
        inputChannels: Int = 3, outputChannels: Int = 3, filters: Int = 64, blocks: Int = 9,
        normalization: NormalizationKind = .instance, dropout: Bool = false, generator: RandomGenerator = .shared
    ) {
        let layers = ResnetGenerator.layers(inputChannels: inputChannels, outputChannels: outputChannels, filters: filters, blocks: blocks,
                                            normalization: normalization, dropout: dropout, antialiased: false, generator: generator)
        model = Sequential(layers)
        super.init()
        registerModule("model", model)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        precondition(input.rank == 4 && input.shape[2] % 4 == 0 && input.shape[3] % 4 == 0,
                     "ResnetGenerator needs [N, C, H, W] with sides divisible by 4, got \(input.shape)")
        return model(input)
    }
}
