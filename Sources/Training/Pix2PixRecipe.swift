import Datasets
import Foundation
import ImageIO
import Models
import NN
import Tensor

/// Adversarial loss flavours (`--gan_mode`).
public enum GANMode: String, Sendable, CaseIterable {
    /// Binary cross-entropy on logits (pix2pix's default).
    case vanilla
    /// Least squares (CycleGAN's default).
    case lsgan

    /// The loss of discriminator logits `prediction` against all-real or all-fake targets.
    public func loss(_ prediction: Tensor, real: Bool) -> Tensor {
        let target = Tensor(shape: prediction.shape, repeating: real ? 1 : 0)
        switch self {
        case .vanilla: return Tensor.binaryCrossEntropyWithLogits(prediction, target)
        case .lsgan: return Tensor.mseLoss(prediction, target)
        }
    }
}

/// Options of the pix2pix recipe (defaults as junyanz/pytorch-CycleGAN-and-pix2pix's pix2pix model).
public struct Pix2PixOptions: Sendable {
    public var architecture = GeneratorArchitecture(kind: .unet, depth: 8, normalization: .batch, dropout: true)
    public var discriminator = DiscriminatorArchitecture(kind: .basic, filters: 64, normalization: .batch)
    public var ganMode = GANMode.vanilla
    /// Weight of the adversarial term; 0 trains the generator on L1 alone (no discriminator).
    public var lambdaGAN: Float = 1
    public var lambdaL1: Float = 100
    /// Lab colorization: A is the L plane (1 channel), B the ab planes (2 channels); images are shown in RGB.
    public var colorization = false

    public init() {}

    /// The colorization recipe: pix2pix from L to ab (unet_256, 1 → 2 channels).
    public static var colorizationDefaults: Pix2PixOptions {
        var options = Pix2PixOptions()
        options.architecture.inputChannels = 1
        options.architecture.outputChannels = 2
        options.colorization = true
        return options
    }
}

/// Paired image-to-image translation: G(A) ≈ B with λ·L1 plus a conditional PatchGAN on (A, ·); the discriminator
/// loss is halved. Networks `G`, `D`; losses `G_GAN`, `G_L1`, `D_real`, `D_fake`.
public final class Pix2PixRecipe: TrainingRecipe {
    public let options: Pix2PixOptions
    public let random: RandomGenerator
    public let generator: Module
    public let discriminator: Module?
    let optimizerG: Adam
    let optimizerD: Adam?
    var latest: (realA: Tensor, fakeB: Tensor, realB: Tensor)?

    public init(options: Pix2PixOptions, training: TrainingOptions) {
        self.options = options
        random = RandomGenerator(seed: training.seed)
        generator = options.architecture.makeGenerator(generator: random)
        generator.initializeWeights(.normal(mean: 0, standardDeviation: 0.02), generator: random)
        (discriminator, optimizerD) = optionalDiscriminator(
            when: options.lambdaGAN > 0, options.discriminator,
            inputChannels: options.architecture.inputChannels + options.architecture.outputChannels, random: random, training: training)
        optimizerG = Adam(parameters: generator.namedParameters(), learningRate: training.learningRate, beta1: training.beta1,
                          beta2: training.beta2)
    }

    public var modules: [String: Module] { adding(["G": generator], "D", discriminator) }

    public var optimizers: [String: any Optimizer] { adding(["G": optimizerG], "D", optimizerD) }

    public var lossNames: [String] { discriminator == nil ? ["G_L1"] : ["G_GAN", "G_L1", "D_real", "D_fake"] }
    public var visualLabels: [String] { ["real_A", "fake_B", "real_B"] }

    public var exportedGenerators: [(name: String, module: Module, metadata: [String: String])] {
        var metadata = options.architecture.metadata
        if options.colorization { metadata["task"] = "colorization" }
        return [("G", generator, metadata)]
    }

    public func step(_ batch: Batch) -> [String: Float] {
        guard let realB = batch.b else { preconditionFailure("pix2pix needs paired batches") }
        let realA = batch.a
        generator.train()
        let fakeB = generator(realA)
        var losses: [String: Float] = [:]
        if let discriminator, let optimizerD {
            // Discriminator: real pairs vs (detached) fake pairs, halved.
            discriminator.train()
            discriminator.setRequiresGradient(true)
            optimizerD.zeroGrad()
            let lossFake = options.ganMode.loss(discriminator(Tensor.concatenated([realA, fakeB.detached()], axis: 1)), real: false)
            let lossReal = options.ganMode.loss(discriminator(Tensor.concatenated([realA, realB], axis: 1)), real: true)
            ((lossFake + lossReal) * 0.5).backward()
            optimizerD.step()
            losses["D_fake"] = lossFake.item
            losses["D_real"] = lossReal.item
        }
        optimizerG.zeroGrad()
        let lossL1 = Tensor.l1Loss(fakeB, realB)
        losses["G_L1"] = lossL1.item
        var lossG = lossL1 * options.lambdaL1
        if let discriminator {
            discriminator.setRequiresGradient(false)
            let lossGAN = options.ganMode.loss(discriminator(Tensor.concatenated([realA, fakeB], axis: 1)), real: true)
            losses["G_GAN"] = lossGAN.item
            lossG = lossG + lossGAN * options.lambdaGAN
        }
        lossG.backward()
        optimizerG.step()
        latest = (realA, fakeB.detached(), realB)
        return losses
    }

    public func visuals() -> [(label: String, image: Image)] {
        guard let latest else { return [] }
        let first = { (tensor: Tensor) in tensor.sliced(axis: 0, 0..<1) }
        if options.colorization {
            let lightness = first(latest.realA)
            return [("real_A", Image(tensor: lightness)),
                    ("fake_B", LabEncoding.merge(lightness: lightness, chroma: first(latest.fakeB))),
                    ("real_B", LabEncoding.merge(lightness: lightness, chroma: first(latest.realB)))]
        }
        return [("real_A", Image(tensor: first(latest.realA))), ("fake_B", Image(tensor: first(latest.fakeB))),
                ("real_B", Image(tensor: first(latest.realB)))]
    }
}
