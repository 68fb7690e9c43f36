import ArgumentParser
import Datasets
import Foundation
import ImageIO
import Models
import NN
import Tensor

/// CUT or FastCUT (Park et al. 2020); they differ only in defaults.
public enum CUTMode: String, Sendable, CaseIterable {
    /// λ_NCE 1 with the identity NCE term; 200 + 200 epochs.
    case cut
    /// λ_NCE 10, no identity term, flip equivariance; 150 + 50 epochs.
    case fastcut
}

/// Options of the CUT recipe (defaults as taesung/contrastive-unpaired-translation's `cut_model`).
public struct CUTOptions: Sendable {
    public var architecture = GeneratorArchitecture(kind: .antialiasedResnet, depth: 9, normalization: .instance)
    public var discriminator = DiscriminatorArchitecture(kind: .basic, filters: 64, normalization: .instance)
    public var ganMode = GANMode.lsgan
    public var lambdaGAN: Float = 1
    public var lambdaNCE: Float = 1
    /// The NCE term between G(y) and y as well (CUT; not FastCUT).
    public var identityNCE = true
    /// Generator layers whose outputs PatchNCE compares.
    public var layers = [0, 4, 8, 12, 16]
    /// Patches sampled per layer and image.
    public var patches = 256
    /// Temperature τ of the contrastive logits.
    public var temperature: Float = 0.07
    /// FastCUT: with probability ½ the inputs are flipped and the query features flipped back.
    public var flipEquivariance = false
    /// Width of the projection head (`--netF_nc`).
    public var headChannels = 256
    public var adversarial = AdversarialOptions()

    public init(mode: CUTMode = .cut) {
        if mode == .fastcut {
            lambdaNCE = 10
            identityNCE = false
            flipEquivariance = true
        }
    }
}

/// CUT's projection head (`PatchSampleF` with `mlp_sample`): per PatchNCE layer, the features at sampled positions
/// through Linear(C, 256), ReLU, Linear(256, 256), then L2-normalised. Keys `mlp_<i>.0.*`, `mlp_<i>.2.*`.
public final class PatchProjection: Module {
    let heads: [Sequential]

    /// `channels`: the channel count of each PatchNCE layer's features.
    public init(channels: [Int], width: Int = 256, generator: RandomGenerator) {
        heads = channels.map { count in
            Sequential([Linear(inputFeatures: count, outputFeatures: width, generator: generator), Activation(.relu),
                        Linear(inputFeatures: width, outputFeatures: width, generator: generator)])
        }
        super.init()
        for (index, head) in heads.enumerated() { registerModule("mlp_\(index)", head) }
    }

    /// Features `[B, C, H, W]` of layer `layer` at `positions` (of H·W, row-major) → `[B·P, width]`, unit rows.
    public func project(_ features: Tensor, layer: Int, positions: [Int]) -> Tensor {
        let (batch, channels) = (features.shape[0], features.shape[1])
        let rows = features.permuted([0, 2, 3, 1]).reshaped([batch, -1, channels]).selected(positions, axis: 1)
        let projected = heads[layer](rows.reshaped([batch * positions.count, channels]))
        // ‖x‖ + 1e-7 as the reference; the 1e-12 under the root keeps an all-zero row (every ReLU off) from a 0/0 gradient.
        return projected / (((projected * projected).sum(axes: [1], keepingDimensions: true) + 1e-12).sqrt() + 1e-7)
    }
}

/// PatchNCE (the reference's `PatchNCELoss`, negatives from the same image only): for each query q (row of `queries`
/// `[B·P, D]`) its positive is the key at the same position and its negatives the other P − 1 keys of its image;
/// cross-entropy of (q·k₊, q·k₋…)/τ with the positive as the class, per query (keys are not differentiated; the
/// self-similarity on the diagonal is replaced by −10, as the reference). Returns the mean.
public func patchNCELoss(queries: Tensor, keys: Tensor, batch: Int, temperature: Float) -> Tensor {
    let keys = keys.detached()
    let (count, width) = (queries.shape[0], queries.shape[1])
    let patches = count / batch
    let positive = (queries * keys).sum(axes: [1], keepingDimensions: true)
    let similarities = queries.reshaped([batch, patches, width]).matmul(keys.reshaped([batch, patches, width]), transposeOther: true)
    var identity = [Float](repeating: 0, count: patches * patches)
    for index in 0..<patches { identity[index * patches + index] = 1 }
    let diagonal = Tensor(shape: [1, patches, patches], scalars: identity)
    let negatives = (similarities * (1 - diagonal) + diagonal * -10).reshaped([count, patches])
    let logits = Tensor.concatenated([positive, negatives], axis: 1) / temperature
    let largest = logits.detached().max(axis: 1, keepingDimensions: true)
    let logSumExp = (logits - largest).exp().sum(axes: [1], keepingDimensions: true).log() + largest
    return (logSumExp - logits.sliced(axis: 1, 0..<1)).mean()
}

/// Contrastive unpaired translation: one generator G: A → B, a PatchGAN D on B, and PatchNCE between the encoder
/// features of the input and of its translation, through the projection head F (taesung/contrastive-unpaired-translation
/// `CUTModel`). Per step: D on G(a) (detached) and b, halved; then G and F on λ_GAN·GAN(D(G(a))) + the NCE term
/// (the mean of NCE(a, G(a)) and NCE(b, G(b)) for CUT; NCE(a, G(a)) for FastCUT), each averaged over the layers and
/// weighted by λ_NCE. Networks `G`, `D`, `F`; losses `G_GAN`, `D_real`, `D_fake`, `G`, `NCE` (`NCE_Y`).
///
/// Differences from the reference: the discriminator is this toolkit's PatchGAN (the reference blur-pools in it too),
/// and the projection head is built at start from the layers' known channel counts (the reference builds it at the
/// first batch); both initialise N(0, 0.02).
public final class CUTRecipe: TrainingRecipe {
    public let options: CUTOptions
    public let random: RandomGenerator
    public let generator: AntialiasedResnetGenerator
    public let discriminator: Module
    public let projection: PatchProjection
    let optimizerG: Adam, optimizerD: Adam, optimizerF: Adam
    let averages: GeneratorAverages
    let history: HistoricalAverages
    let references: ReferenceBatches
    var latest: [(label: String, tensor: Tensor)] = []

    public init(options: CUTOptions, training: TrainingOptions) {
        precondition(options.architecture.kind == .antialiasedResnet, "CUT's generator is cut_resnet_<N>blocks")
        self.options = options
        random = RandomGenerator(seed: training.seed)
        let architecture = options.architecture
        generator = AntialiasedResnetGenerator(inputChannels: architecture.inputChannels, outputChannels: architecture.outputChannels,
                                               filters: architecture.filters, blocks: architecture.depth,
                                               normalization: architecture.normalization, dropout: architecture.dropout, generator: random)
        discriminator = options.discriminator.makeDiscriminator(inputChannels: architecture.outputChannels, generator: random)
        projection = PatchProjection(channels: CUTRecipe.layerChannels(options), width: options.headChannels, generator: random)
        for network in [generator, discriminator, projection] as [Module] {
            network.initializeWeights(.normal(mean: 0, standardDeviation: 0.02), generator: random)
        }
        let adam = { (module: Module) in
            Adam(parameters: module.namedParameters(), learningRate: training.learningRate, beta1: training.beta1, beta2: training.beta2)
        }
        (optimizerG, optimizerD, optimizerF) = (adam(generator), adam(discriminator), adam(projection))
        averages = GeneratorAverages(decay: options.adversarial.generatorAverageDecay,
                                     networks: [("G", generator, architecture.makeGenerator(generator: RandomGenerator(seed: 0)))])
        history = HistoricalAverages(lambda: options.adversarial.lambdaHistorical, networks: [("G", generator), ("D", discriminator)])
        references = ReferenceBatches(enabled: architecture.normalization == .virtualBatch || options.discriminator.normalization == .virtualBatch)
    }

    /// `[N, C, H, W]` mirrored left to right (recorded).
    static func flippedHorizontally(_ tensor: Tensor) -> Tensor { tensor.selected(Array((0..<tensor.shape[3]).reversed()), axis: 3) }

    /// The channel count at each PatchNCE layer of the generator (a dry run on a small input).
    static func layerChannels(_ options: CUTOptions) -> [Int] {
        let architecture = options.architecture
        let probe = AntialiasedResnetGenerator(inputChannels: architecture.inputChannels, outputChannels: architecture.outputChannels,
                                               filters: architecture.filters, blocks: architecture.depth,
                                               normalization: architecture.normalization, generator: RandomGenerator(seed: 0))
        probe.eval()
        return withoutGradient { probe.features(Tensor.zeros([1, architecture.inputChannels, 16, 16]), at: options.layers).map { $0.shape[1] } }
    }

    public var modules: [String: Module] { ["G": generator, "D": discriminator, "F": projection] }
    public var optimizers: [String: any Optimizer] { ["G": optimizerG, "D": optimizerD, "F": optimizerF] }
    public var learningRateScales: [String: Float] { ["D": options.adversarial.discriminatorLearningRateScale] }
    public var lossNames: [String] {
        let adversarial = options.adversarial
        return ["G_GAN"] + (adversarial.lambdaFeatureMatching > 0 ? ["G_FM"] : []) + ["D_real", "D_fake"]
            + (options.ganMode == .wgangp ? ["D_GP"] : []) + (adversarial.r1Gamma > 0 ? ["D_R1"] : [])
            + (adversarial.lambdaHistorical > 0 ? ["G_hist", "D_hist"] : []) + ["G", "NCE"] + (options.identityNCE ? ["NCE_Y"] : [])
    }
    public var visualLabels: [String] { ["real_A", "fake_B", "real_B"] + (options.identityNCE ? ["idt_B"] : []) }

    public var exportedGenerators: [(name: String, module: Module, metadata: [String: String])] {
        [("G", averages.exported("G", live: generator), options.architecture.metadata.merging(["direction": "AtoB"]) { $1 })]
    }

    /// PatchNCE between the features of `source` and of its translation `target`, averaged over the layers, × λ_NCE.
    /// When the generator's input was the flipped source (flip equivariance), the query features are flipped back,
    /// as the reference's. The keys take no gradient (PatchNCE detaches them): `keys` are the source's features from
    /// the forward pass that made `target` (same weights, same input), else they are computed without a graph.
    func contrastiveLoss(source: Tensor, target: Tensor, flipped: Bool, keys given: [Tensor]?) -> Tensor {
        var queries = generator.features(target, at: options.layers)
        if flipped { queries = queries.map(CUTRecipe.flippedHorizontally) }
        let keys = given?.map { $0.detached() } ?? withoutGradient { generator.features(source, at: options.layers) }
        var total: Tensor?
        for (layer, (query, key)) in zip(queries, keys).enumerated() {
            let positions = key.shape[2] * key.shape[3]
            let chosen = Array(random.permutation(positions).prefix(min(options.patches, positions)))
            let projectedKeys = withoutGradient { projection.project(key, layer: layer, positions: chosen) }
            let loss = patchNCELoss(queries: projection.project(query, layer: layer, positions: chosen), keys: projectedKeys,
                                    batch: source.shape[0], temperature: options.temperature) * options.lambdaNCE
            total = total.map { $0 + loss } ?? loss
        }
        return total! / Float(options.layers.count)
    }

    /// G(`input`, flipped when `flipped`) and, unless flipped, the input's PatchNCE features from the same pass (a
    /// flipped pass's features are not the unflipped input's: the keys are then computed apart).
    func translate(_ input: Tensor, flipped: Bool) -> (output: Tensor, keys: [Tensor]?) {
        guard !flipped else { return (generator(CUTRecipe.flippedHorizontally(input)), nil) }
        let result = generator.forward(input, keeping: options.layers)
        return (result.output, result.features)
    }

    public func step(_ batch: Batch) -> [String: Float] {
        guard let realB = batch.b else { preconditionFailure("CUT needs batches with A and B images") }
        for network in [generator, discriminator, projection] as [Module] { network.train() }
        // The generator runs on A and (for the identity term) on B separately — with instance norm the same as the
        // reference's concatenated batch — so each part's graph is freed by its own backward.
        let flipped = options.flipEquivariance && random.nextDouble() < 0.5
        let realA = batch.a
        // --norm virtual_batch: a reference pass before each part whose backward consumes the graph.
        references.remember(batch)
        references.refresh([(generator, references.a)])
        let (fakeB, keysA) = translate(realA, flipped: flipped)
        var losses: [String: Float] = [:]

        // Discriminator (with R1 / the gradient penalty when asked), --d-steps times on this batch.
        discriminator.setRequiresGradient(true)
        let fakeDetached = fakeB.detached()
        losses = updateDiscriminator(discriminator, optimizer: optimizerD, real: realB, fake: fakeDetached, mode: options.ganMode,
                                     options: options.adversarial, random: random, history: history) {
            references.refresh([(discriminator, references.b)])
        }

        // Generator and projection head: GAN (+ feature matching) + NCE(a, G(a)) [· ½ with the identity term], then
        // ½·NCE(b, G(b)).
        discriminator.setRequiresGradient(false)
        optimizerG.zeroGrad()
        optimizerF.zeroGrad()
        references.refresh([(discriminator, references.b)])
        let (gan, matching) = generatorAdversarialLoss(discriminator, fake: fakeB, real: realB, paired: false, mode: options.ganMode,
                                                       options: options.adversarial)
        let lossGAN = gan * options.lambdaGAN
        let lossNCE = contrastiveLoss(source: realA, target: fakeB, flipped: flipped, keys: keysA)
        let share: Float = options.identityNCE ? 0.5 : 1
        var lossG = lossGAN + lossNCE * share
        if let matching {
            lossG = lossG + matching * options.adversarial.lambdaFeatureMatching
            losses["G_FM"] = matching.item
        }
        lossG.backward()
        var total = lossG.item
        losses["NCE"] = lossNCE.item
        var identity: Tensor?
        if options.identityNCE {
            references.refresh([(generator, references.a)])
            let (identityB, keysB) = translate(realB, flipped: flipped)
            let lossIdentity = contrastiveLoss(source: realB, target: identityB, flipped: flipped, keys: keysB)
            (lossIdentity * share).backward()
            losses["NCE_Y"] = lossIdentity.item
            total += lossIdentity.item * share
            identity = identityB.detached()
        }
        losses["G_hist"] = history.addPenaltyGradients("G")
        optimizerG.step()
        optimizerF.step()
        averages.update()
        history.update()
        for network in [generator, discriminator] as [Module] { VirtualBatchNorm2d.endStep(network) }
        (losses["G_GAN"], losses["G"]) = (lossGAN.item, total)
        latest = [("real_A", realA), ("fake_B", fakeDetached), ("real_B", realB)] + (identity.map { [("idt_B", $0)] } ?? [])
        return losses
    }

    public func visuals() -> [(label: String, image: Image)] {
        latest.map { ($0.label, Image(tensor: $0.tensor.sliced(axis: 0, 0..<1))) }
    }

    public func buffers() -> [String: Tensor] { stabiliserBuffers(averages, history, references) }
    public func restore(buffers: [String: Tensor]) throws { try restoreStabilisers(averages, history, references, from: buffers) }
}

// MARK: - Command line

/// The options `stylize train cut|fastcut` add to the shared ones.
public struct CUTArguments: ParsableArguments {
    @OptionGroup(title: "Networks") public var networks: GANNetworkArguments
    @OptionGroup(title: "Domains") public var domains: PairedDataArguments
    @OptionGroup(title: "GAN training") public var adversarial: AdversarialArguments
    @Option(help: "Weight of the GAN term.") public var lambdaGan: Float = 1
    @Option(help: "Weight of PatchNCE (default: CUT 1, FastCUT 10).") public var lambdaNce: Float?
    @Option(help: "The identity NCE term NCE(G(b), b) (default: on for CUT, off for FastCUT).") public var nceIdt: Bool?
    @Option(help: "Generator layers PatchNCE compares (comma-separated indices).") public var nceLayers: String = "0,4,8,12,16"
    @Option(help: "Patches sampled per layer.") public var numPatches = 256
    @Option(help: "Temperature of the contrastive logits.") public var nceT: Float = 0.07
    @Option(help: "Flip equivariance (default: on for FastCUT).") public var flipEquivariance: Bool?
    @Option(help: "Width of the projection head.") public var netfNc = 256

    public init() {}

    public func validate() throws {
        guard lambdaGan >= 0, (lambdaNce ?? 1) >= 0 else { throw ValidationError("the lambdas must not be negative") }
        guard numPatches >= 1, nceT > 0, netfNc >= 1 else { throw ValidationError("--num-patches, --nce-t and --netf-nc must be positive") }
        guard let layers = parsedLayers, !layers.isEmpty, layers == layers.sorted(), Set(layers).count == layers.count, layers.allSatisfy({ $0 >= 0 })
        else { throw ValidationError("--nce-layers must be ascending indices such as 0,4,8,12,16") }
    }

    var parsedLayers: [Int]? {
        let parts = nceLayers.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return parts.contains(nil) ? nil : parts.compactMap { $0 }
    }

    /// The recipe's options for `mode`: the generator (cut_resnet_9blocks), the discriminator, the NCE settings.
    func options(mode: CUTMode, learningRate: Float, checking preprocessing: Preprocessing) throws -> CUTOptions {
        var options = CUTOptions(mode: mode)
        options.architecture = try networks.generator(default: "cut_resnet_9blocks", normalization: .instance, dropout: false,
                                                      inputChannels: domains.inputChannels, outputChannels: domains.outputChannels)
        guard options.architecture.kind == .antialiasedResnet else {
            throw ValidationError("CUT's generator is cut_resnet_<N>blocks (got \(options.architecture.name))")
        }
        options.discriminator = networks.discriminator(normalization: options.architecture.normalization)
        try GANNetworkArguments.checkCrop(preprocessing, generator: options.architecture, discriminator: options.discriminator)
        options.ganMode = networks.gan(default: .lsgan)
        options.adversarial = try adversarial.options(learningRate: learningRate, mode: options.ganMode)
        options.lambdaGAN = lambdaGan
        if let lambdaNce { options.lambdaNCE = lambdaNce }
        if let nceIdt { options.identityNCE = nceIdt }
        if let flipEquivariance { options.flipEquivariance = flipEquivariance }
        options.layers = parsedLayers ?? options.layers
        let available = 4 + 4 + 4 + options.architecture.depth + 8 + 3
        guard let last = options.layers.last, last < available - 1 else {
            throw ValidationError("--nce-layers: the generator has layers 0…\(available - 2)")
        }
        options.patches = numPatches
        options.temperature = nceT
        options.headChannels = netfNc
        return options
    }

    static func prepare(mode: CUTMode, _ arguments: CUTArguments, data: ImageDataArguments, training: TrainingOptions) throws -> PreparedRecipe {
        let preprocessing = try data.preprocessing(defaults: defaults(mode))
        let options = try arguments.options(mode: mode, learningRate: training.learningRate, checking: preprocessing)
        let domains = arguments.domains
        let dataset = try UnalignedDataset(root: try data.root(), direction: domains.direction, preprocessing: preprocessing,
                                           inputChannels: domains.inputChannels, outputChannels: domains.outputChannels)
        let summary = "\(mode.rawValue): \(options.architecture.name) ngf \(options.architecture.filters), \(options.discriminator.kind.rawValue) "
            + "ndf \(options.discriminator.filters), NCE layers \(options.layers), \(dataset.pathsA.count) A / \(dataset.pathsB.count) B images"
        return PreparedRecipe(recipe: CUTRecipe(options: options, training: training), dataset: dataset, summary: summary)
    }

    static func defaults(_ mode: CUTMode) -> RecipeDefaults {
        var defaults = RecipeDefaults.gan
        (defaults.epochs, defaults.decayEpochs) = mode == .cut ? (200, 200) : (150, 50)
        return defaults
    }

    func networkDefinition() throws -> [(option: String, value: String)] {
        try networks.definition(default: "cut_resnet_9blocks", normalization: .instance, dropout: false,
                                inputChannels: domains.inputChannels, outputChannels: domains.outputChannels)
            + [("--netf-nc", String(netfNc)), ("--nce-layers", nceLayers)]
    }
}

/// `stylize train cut`.
public enum CUTDefinition: RecipeDefinition {
    public static let commandName = "cut"
    public static let abstract = "Unpaired translation A → B with one generator and PatchNCE (CUT, Park et al. 2020)."
    public static let discussion = """
        Data: --dataroot DIR with DIR/trainA and DIR/trainB (not paired). Writes latest_net_G.safetensors (A → B). \
        Defaults (taesung/contrastive-unpaired-translation, --CUT_mode CUT): cut_resnet_9blocks (anti-aliased), basic \
        PatchGAN, instance norm, LSGAN, λ_GAN 1, λ_NCE 1 with the identity NCE term, NCE layers 0,4,8,12,16, 256 \
        patches, τ 0.07, Adam 2e-4 (0.5, 0.999), 200 + 200 epochs, resize_and_crop 286 → 256.
        """
    public static func defaults(_ arguments: CUTArguments) -> RecipeDefaults { CUTArguments.defaults(.cut) }
    public static func networkDefinition(_ arguments: CUTArguments) throws -> [(option: String, value: String)] { try arguments.networkDefinition() }
    public static func prepare(_ arguments: CUTArguments, data: ImageDataArguments, training: TrainingOptions) throws -> PreparedRecipe {
        try CUTArguments.prepare(mode: .cut, arguments, data: data, training: training)
    }
}

/// `stylize train fastcut`.
public enum FastCUTDefinition: RecipeDefinition {
    public static let commandName = "fastcut"
    public static let abstract = "FastCUT: CUT without the identity term, λ_NCE 10 and flip equivariance."
    public static let discussion = """
        As stylize train cut with --CUT_mode FastCUT's defaults: λ_NCE 10, no identity NCE, flip equivariance, \
        150 + 50 epochs. Writes latest_net_G.safetensors (A → B).
        """
    public static func defaults(_ arguments: CUTArguments) -> RecipeDefaults { CUTArguments.defaults(.fastcut) }
    public static func networkDefinition(_ arguments: CUTArguments) throws -> [(option: String, value: String)] { try arguments.networkDefinition() }
    public static func prepare(_ arguments: CUTArguments, data: ImageDataArguments, training: TrainingOptions) throws -> PreparedRecipe {
        try CUTArguments.prepare(mode: .fastcut, arguments, data: data, training: training)
    }
}
