import ArgumentParser
import Datasets
import Foundation
import ImageIO
import Models
import NN
import Tensor

/// Options of the CycleGAN recipe (defaults as junyanz/pytorch-CycleGAN-and-pix2pix's cycle_gan model).
public struct CycleGANOptions: Sendable {
    /// G_A: A → B uses this as is; G_B: B → A swaps the channel counts.
    public var architecture = GeneratorArchitecture(kind: .resnet, depth: 9, normalization: .instance)
    public var discriminator = DiscriminatorArchitecture(kind: .basic, filters: 64, normalization: .instance)
    public var ganMode = GANMode.lsgan
    /// Weight of the cycle loss A → B → A.
    public var lambdaA: Float = 10
    /// Weight of the cycle loss B → A → B.
    public var lambdaB: Float = 10
    /// Identity-loss weight relative to the cycle weights (0 disables it; needs equal channel counts).
    public var lambdaIdentity: Float = 0.5
    /// Fakes kept for the discriminators (0: none).
    public var poolSize = 50
    /// Label smoothing, discriminator steps and learning rate, the generators' averages.
    public var adversarial = AdversarialOptions()

    public init() {}
}

/// Unpaired translation with cycle consistency: generators G_A: A → B and G_B: B → A, discriminators D_A (on B)
/// and D_B (on A).
///
/// Per step, as the reference: the generators (with the discriminators frozen) minimise
/// GAN(D_A(G_A(a))) + GAN(D_B(G_B(b))) + λ_A·|G_B(G_A(a)) − a| + λ_B·|G_A(G_B(b)) − b|
/// + λ_idt·(λ_B·|G_A(b) − b| + λ_A·|G_B(a) − a|), one Adam over both; then each discriminator minimises
/// ½·(GAN(D(real), 1) + GAN(D(pooled fake), 0)), one Adam over both. The generator loss is back-propagated in three
/// independent parts (identity, the A cycle, the B cycle) — the same gradients, summed — so at most one cycle's
/// activations are alive at a time.
public final class CycleGANRecipe: TrainingRecipe {
    public let options: CycleGANOptions
    public let random: RandomGenerator
    public let generatorA: Module
    public let generatorB: Module
    public let discriminatorA: Module
    public let discriminatorB: Module
    let optimizerG: Adam
    let optimizerD: Adam
    public let poolA: ImagePool
    public let poolB: ImagePool
    let averages: GeneratorAverages
    let history: HistoricalAverages
    let references: ReferenceBatches
    var latest: [(label: String, tensor: Tensor)] = []

    public init(options: CycleGANOptions, training: TrainingOptions) {
        precondition(options.lambdaIdentity == 0 || options.architecture.inputChannels == options.architecture.outputChannels,
                     "the identity loss needs as many input as output channels")
        self.options = options
        random = RandomGenerator(seed: training.seed)
        var reversed = options.architecture
        swap(&reversed.inputChannels, &reversed.outputChannels)
        generatorA = options.architecture.makeGenerator(generator: random)
        generatorB = reversed.makeGenerator(generator: random)
        discriminatorA = options.discriminator.makeDiscriminator(inputChannels: options.architecture.outputChannels, generator: random)
        discriminatorB = options.discriminator.makeDiscriminator(inputChannels: options.architecture.inputChannels, generator: random)
        for network in [generatorA, generatorB, discriminatorA, discriminatorB] {
            network.initializeWeights(.normal(mean: 0, standardDeviation: 0.02), generator: random)
        }
        optimizerG = Adam(parameters: generatorA.namedParameters(prefix: "G_A.") + generatorB.namedParameters(prefix: "G_B."),
                          learningRate: training.learningRate, beta1: training.beta1, beta2: training.beta2)
        optimizerD = Adam(parameters: discriminatorA.namedParameters(prefix: "D_A.") + discriminatorB.namedParameters(prefix: "D_B."),
                          learningRate: training.learningRate, beta1: training.beta1, beta2: training.beta2)
        poolA = ImagePool(capacity: options.poolSize)
        poolB = ImagePool(capacity: options.poolSize)
        averages = GeneratorAverages(decay: options.adversarial.generatorAverageDecay, networks: [
            ("G_A", generatorA, options.architecture.makeGenerator(generator: RandomGenerator(seed: 0))),
            ("G_B", generatorB, reversed.makeGenerator(generator: RandomGenerator(seed: 0)))])
        history = HistoricalAverages(lambda: options.adversarial.lambdaHistorical,
                                     networks: [("G_A", generatorA), ("G_B", generatorB), ("D_A", discriminatorA), ("D_B", discriminatorB)])
        references = ReferenceBatches(enabled: options.architecture.normalization == .virtualBatch
                                      || options.discriminator.normalization == .virtualBatch)
    }

    public var learningRateScales: [String: Float] { ["D": options.adversarial.discriminatorLearningRateScale] }

    public var modules: [String: Module] { ["G_A": generatorA, "G_B": generatorB, "D_A": discriminatorA, "D_B": discriminatorB] }
    public var optimizers: [String: any Optimizer] { ["G": optimizerG, "D": optimizerD] }

    public var lossNames: [String] {
        (options.lambdaIdentity > 0 ? ["D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"]
            : ["D_A", "G_A", "cycle_A", "D_B", "G_B", "cycle_B"])
            + (options.adversarial.lambdaFeatureMatching > 0 ? ["FM_A", "FM_B"] : [])
            + (options.adversarial.lambdaHistorical > 0 ? ["G_hist", "D_hist"] : [])
            + (options.ganMode == .wgangp ? ["D_GP"] : []) + (options.adversarial.r1Gamma > 0 ? ["D_R1"] : [])
    }

    public var visualLabels: [String] {
        options.lambdaIdentity > 0 ? ["real_A", "fake_B", "rec_A", "idt_B", "real_B", "fake_A", "rec_B", "idt_A"]
            : ["real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"]
    }

    public var exportedGenerators: [(name: String, module: Module, metadata: [String: String])] {
        var reversed = options.architecture
        swap(&reversed.inputChannels, &reversed.outputChannels)
        return [("G_A", averages.exported("G_A", live: generatorA), options.architecture.metadata.merging(["direction": "AtoB"]) { $1 }),
                ("G_B", averages.exported("G_B", live: generatorB), reversed.metadata.merging(["direction": "BtoA"]) { $1 })]
    }

    public func step(_ batch: Batch) -> [String: Float] {
        guard let realB = batch.b else { preconditionFailure("CycleGAN needs batches with A and B images") }
        let realA = batch.a
        for network in [generatorA, generatorB, discriminatorA, discriminatorB] { network.train() }
        var losses: [String: Float] = [:]
        var visuals: [(String, Tensor)] = []

        // Generators, discriminators frozen.
        discriminatorA.setRequiresGradient(false)
        discriminatorB.setRequiresGradient(false)
        optimizerG.zeroGrad()
        // --norm virtual_batch: a reference pass before each part whose backward consumes the graph.
        references.remember(batch)
        let referencePasses = [(generatorA, references.a), (generatorB, references.b), (discriminatorA, references.b),
                               (discriminatorB, references.a)]
        if options.lambdaIdentity > 0 {
            references.refresh(referencePasses)
            let identityA = generatorA(realB), identityB = generatorB(realA)
            let lossA = Tensor.l1Loss(identityA, realB), lossB = Tensor.l1Loss(identityB, realA)
            (lossA * (options.lambdaB * options.lambdaIdentity) + lossB * (options.lambdaA * options.lambdaIdentity)).backward()
            losses["idt_A"] = lossA.item * options.lambdaB * options.lambdaIdentity
            losses["idt_B"] = lossB.item * options.lambdaA * options.lambdaIdentity
            visuals += [("idt_A", identityA.detached()), ("idt_B", identityB.detached())]
        }
        func cycle(real: Tensor, target: Tensor, forward: Module, backward: Module, critic: Module, lambda: Float)
            -> (fake: Tensor, gan: Float, cycle: Float, matching: Float?, reconstructed: Tensor) {
            let fake = forward(real)
            let reconstructed = backward(fake)
            let (gan, matching) = generatorAdversarialLoss(critic, fake: fake, real: target, paired: false, mode: options.ganMode,
                                                           options: options.adversarial)
            let cycleLoss = Tensor.l1Loss(reconstructed, real)
            var total = gan + cycleLoss * lambda
            if let matching { total = total + matching * options.adversarial.lambdaFeatureMatching }
            total.backward()
            return (fake.detached(), gan.item, cycleLoss.item * lambda, matching?.item, reconstructed.detached())
        }
        references.refresh(referencePasses)
        let cycleA = cycle(real: realA, target: realB, forward: generatorA, backward: generatorB, critic: discriminatorA, lambda: options.lambdaA)
        references.refresh(referencePasses)
        let cycleB = cycle(real: realB, target: realA, forward: generatorB, backward: generatorA, critic: discriminatorB, lambda: options.lambdaB)
        losses["FM_A"] = cycleA.matching
        losses["FM_B"] = cycleB.matching
        losses["G_hist"] = history.addPenaltyGradients("G_A", "G_B")
        optimizerG.step()
        averages.update()
        losses["G_A"] = cycleA.gan
        losses["cycle_A"] = cycleA.cycle
        losses["G_B"] = cycleB.gan
        losses["cycle_B"] = cycleB.cycle

        // Discriminators on real images and pooled fakes (the pool is queried once; --d-steps updates on them).
        discriminatorA.setRequiresGradient(true)
        discriminatorB.setRequiresGradient(true)
        let pooledB = poolB.query(cycleA.fake, generator: random), pooledA = poolA.query(cycleB.fake, generator: random)
        var penaltyTotals: [String: Float] = [:]
        func discriminate(_ critic: Module, real: Tensor, fake: Tensor) -> Float {
            let parts = discriminatorBackward(critic, real: real, fake: fake, mode: options.ganMode, options: options.adversarial, random: random)
            if let r1 = parts.r1 { penaltyTotals["D_R1", default: 0] += r1 }
            if let penalty = parts.gradientPenalty { penaltyTotals["D_GP", default: 0] += penalty }
            return (parts.real + parts.fake) * 0.5
        }
        for _ in 0..<options.adversarial.discriminatorSteps {
            optimizerD.zeroGrad()
            references.refresh([(discriminatorA, references.b)])
            losses["D_A"] = discriminate(discriminatorA, real: realB, fake: pooledB)
            references.refresh([(discriminatorB, references.a)])
            losses["D_B"] = discriminate(discriminatorB, real: realA, fake: pooledA)
            losses["D_hist"] = history.addPenaltyGradients("D_A", "D_B")
            optimizerD.step()
            for (name, value) in penaltyTotals { losses[name] = value }
            penaltyTotals = [:]
        }
        history.update()
        for network in [generatorA, generatorB, discriminatorA, discriminatorB] { VirtualBatchNorm2d.endStep(network) }

        visuals += [("real_A", realA), ("fake_B", cycleA.fake), ("rec_A", cycleA.reconstructed),
                    ("real_B", realB), ("fake_A", cycleB.fake), ("rec_B", cycleB.reconstructed)]
        latest = visuals
        return losses
    }

    public func visuals() -> [(label: String, image: Image)] {
        let byLabel = Dictionary(latest, uniquingKeysWith: { first, _ in first })
        return visualLabels.compactMap { label in byLabel[label].map { (label, Image(tensor: $0.sliced(axis: 0, 0..<1))) } }
    }

    public func buffers() -> [String: Tensor] {
        poolA.buffers(prefix: "pool_A").merging(poolB.buffers(prefix: "pool_B")) { first, _ in first }
            .merging(stabiliserBuffers(averages, history, references)) { first, _ in first }
    }

    public func restore(buffers: [String: Tensor]) throws {
        poolA.restore(buffers, prefix: "pool_A")
        poolB.restore(buffers, prefix: "pool_B")
        try restoreStabilisers(averages, history, references, from: buffers)
    }
}

// MARK: - Command line

/// The options `stylize train cyclegan` adds to the shared ones.
public struct CycleGANArguments: ParsableArguments {
    @OptionGroup(title: "Networks") public var networks: GANNetworkArguments
    @OptionGroup(title: "Domains") public var domains: PairedDataArguments
    @OptionGroup(title: "GAN training") public var adversarial: AdversarialArguments
    @Option(help: "Weight of the cycle loss A → B → A.") public var lambdaA: Float = 10
    @Option(help: "Weight of the cycle loss B → A → B.") public var lambdaB: Float = 10
    @Option(help: "Identity-loss weight relative to the cycle weights (0: none).") public var lambdaIdentity: Float = 0.5
    @Option(help: "Generated images kept for the discriminators (0: none).") public var poolSize = 50

    public init() {}

    public func validate() throws {
        guard lambdaA >= 0, lambdaB >= 0, lambdaIdentity >= 0 else { throw ValidationError("the lambdas must not be negative") }
        guard poolSize >= 0 else { throw ValidationError("--pool-size must not be negative") }
    }
}

extension CycleGANRecipe: RecipeDefinition {
    public static let commandName = "cyclegan"
    public static let abstract = "Unpaired translation A ↔ B: two generators, two PatchGANs, cycle and identity losses."
    public static let discussion = """
        Data: --dataroot DIR with DIR/trainA and DIR/trainB (any number of images each, not paired). Writes \
        latest_net_G_A.safetensors (A → B) and latest_net_G_B.safetensors (B → A). Defaults (junyanz's cycle_gan): \
        resnet_9blocks, basic PatchGAN (70×70), instance norm, LSGAN, λ_A = λ_B = 10, identity 0.5, pool of 50 fakes, \
        Adam 2e-4 (0.5, 0.999), 100 + 100 epochs, resize_and_crop 286 → 256 with flips.
        """

    public static func defaults(_ arguments: CycleGANArguments) -> RecipeDefaults { .gan }

    public static func networkDefinition(_ arguments: CycleGANArguments) throws -> [(option: String, value: String)] {
        try arguments.networks.definition(default: "resnet_9blocks", normalization: .instance, dropout: false,
                                          inputChannels: arguments.domains.inputChannels, outputChannels: arguments.domains.outputChannels)
    }

    public static func prepare(_ arguments: CycleGANArguments, data: ImageDataArguments, training: TrainingOptions) throws -> PreparedRecipe {
        var options = CycleGANOptions()
        let domains = arguments.domains
        options.architecture = try arguments.networks.generator(default: "resnet_9blocks", normalization: .instance, dropout: false,
                                                                inputChannels: domains.inputChannels, outputChannels: domains.outputChannels)
        options.discriminator = arguments.networks.discriminator(normalization: options.architecture.normalization)
        let preprocessing = try data.preprocessing(defaults: .gan)
        try GANNetworkArguments.checkCrop(preprocessing, generator: options.architecture, discriminator: options.discriminator)
        options.ganMode = arguments.networks.gan(default: .lsgan)
        options.adversarial = try arguments.adversarial.options(learningRate: training.learningRate, mode: options.ganMode)
        options.lambdaA = arguments.lambdaA
        options.lambdaB = arguments.lambdaB
        options.lambdaIdentity = domains.inputChannels == domains.outputChannels ? arguments.lambdaIdentity : 0
        options.poolSize = arguments.poolSize
        let dataset = try UnalignedDataset(root: try data.root(), direction: domains.direction, preprocessing: preprocessing,
                                           inputChannels: domains.inputChannels, outputChannels: domains.outputChannels)
        let summary = "\(options.architecture.name) ngf \(options.architecture.filters) ×2, \(options.discriminator.kind.rawValue) "
            + "ndf \(options.discriminator.filters) ×2, \(dataset.pathsA.count) A / \(dataset.pathsB.count) B images"
        return PreparedRecipe(recipe: CycleGANRecipe(options: options, training: training), dataset: dataset, summary: summary)
    }
}
