import ArgumentParser
import Datasets
import Foundation
import Models
import NN
import Tensor

/// Adversarial loss flavours (`--gan-mode`), each with its discriminator and generator objective on discriminator
/// outputs (logits or critic values, any shape; means over all of them).
public enum GANMode: String, Sendable, CaseIterable {
    /// Binary cross-entropy on logits (pix2pix's default); the generator's loss is the non-saturating −log D(G(x)).
    case vanilla
    /// Least squares (CycleGAN's default): (D − 1)² on real, D² on fake; the generator's (D(G(x)) − 1)².
    case lsgan
    /// Hinge (Miyato et al. 2018, SAGAN): relu(1 − D) on real, relu(1 + D) on fake; the generator's −D(G(x)).
    case hinge
    /// WGAN-GP (Gulrajani et al. 2017, junyanz's `wgangp`): the critic minimises mean D(fake) − mean D(real) plus the
    /// gradient penalty (``gradientPenalty(_:real:fake:random:lambda:)``); the generator's −mean D(G(x)).
    case wgangp

    /// The loss of discriminator outputs `prediction` against all-real or all-fake targets — the discriminator's
    /// objective term; `realTarget` is the target of real images (one-sided label smoothing: 0.9; fake stays 0).
    public func discriminatorLoss(_ prediction: Tensor, real: Bool, realTarget: Float = 1) -> Tensor {
        switch self {
        case .vanilla, .lsgan:
            let target = Tensor(shape: prediction.shape, repeating: real ? realTarget : 0)
            return self == .vanilla ? Tensor.binaryCrossEntropyWithLogits(prediction, target) : Tensor.mseLoss(prediction, target)
        case .hinge:
            return (real ? (1 - prediction) : (prediction + 1)).relu().mean()
        case .wgangp:
            return real ? -prediction.mean() : prediction.mean()
        }
    }

    /// The generator's adversarial loss on the discriminator's outputs for its images.
    public func generatorLoss(_ prediction: Tensor) -> Tensor {
        switch self {
        case .vanilla, .lsgan: return discriminatorLoss(prediction, real: true)
        case .hinge, .wgangp: return -prediction.mean()
        }
    }
}

/// The training techniques of the GAN recipes beyond the reference's (Salimans et al. 2016 and later), shared by
/// CycleGAN, pix2pix and CUT. The defaults are the reference's behaviour.
public struct AdversarialOptions: Sendable, Equatable {
    /// The target of real images in the discriminator's loss (one-sided label smoothing; 1: none). Fakes stay 0.
    public var realLabel: Float = 1
    /// Discriminator updates per generator update (on the same batch).
    public var discriminatorSteps = 1
    /// The discriminators' learning rate relative to `--lr` (TTUR: `--lr-d` / `--lr`).
    public var discriminatorLearningRateScale: Float = 1
    /// Decay of the exponential moving average of the generators' weights that is exported (0: the weights as they are).
    public var generatorAverageDecay: Float = 0
    /// Weight of feature matching: L1 between the discriminator's hidden activations on real and generated images
    /// (pix2pix: per position, as pix2pixHD; CycleGAN, unpaired: their per-channel means, as Salimans et al.).
    public var lambdaFeatureMatching: Float = 0
    /// Weight of historical averaging: λ‖θ − θ̄‖² per network, θ̄ the mean of all its past weights.
    public var lambdaHistorical: Float = 0
    /// WGAN-GP's penalty weight (used with `.wgangp`).
    public var lambdaGradientPenalty: Float = 10
    /// R1 (Mescheder et al. 2018): γ/2 · E‖∇ D(real)‖² added to the discriminator's loss (0: off).
    public var r1Gamma: Float = 0

    public init() {}
}

/// The stabilisers on the command line (`stylize train cyclegan|pix2pix|cut|fastcut`, `colorize --method gan`).
public struct AdversarialArguments: ParsableArguments {
    @Option(help: "One-sided label smoothing: the discriminator's target for real images (Salimans et al.: 0.9; fakes stay 0; vanilla and lsgan).")
    public var labelSmoothing: Float = 1
    @Option(help: "Discriminator updates per generator update (on the same batch).") public var dSteps = 1
    @Option(help: "Learning rate of the discriminators (TTUR; default: --lr). Follows the same schedule.") public var lrD: Float?
    @Option(help: "Export an exponential moving average of the generators' weights with this decay (e.g. 0.999; 0: off). Saved in the training state.")
    public var emaG: Float = 0
    @Option(help: "Weight of feature matching: L1 between the discriminator's hidden activations on real and generated images (pix2pixHD: 10).")
    public var lambdaFeatureMatching: Float = 0
    @Option(help: "Weight of historical averaging: λ‖θ − mean of past θ‖² for every network (Salimans et al.).")
    public var lambdaHistorical: Float = 0
    @Option(help: "--gan-mode wgangp: weight of the gradient penalty on random interpolates of real and generated images.")
    public var lambdaGp: Float = 10
    @Option(help: "R1 penalty on real images: γ/2 · E‖∇ D(real)‖² in the discriminator's loss (0: off; StyleGAN uses 10).")
    public var r1Gamma: Float = 0

    public init() {}

    public func validate() throws {
        guard labelSmoothing > 0, labelSmoothing <= 1 else { throw ValidationError("--label-smoothing must be in (0, 1] (0.9 is usual)") }
        guard dSteps >= 1, dSteps <= 20 else { throw ValidationError("--d-steps must be 1…20") }
        if let lrD, !(lrD > 0) { throw ValidationError("--lr-d must be positive") }
        guard emaG >= 0, emaG < 1 else { throw ValidationError("--ema-g must be in [0, 1)") }
        guard lambdaFeatureMatching >= 0, lambdaHistorical >= 0, lambdaGp >= 0 else { throw ValidationError("the lambdas must not be negative") }
        guard r1Gamma >= 0 else { throw ValidationError("--r1-gamma must not be negative") }
    }

    /// The options for a run whose base learning rate is `learningRate` and GAN loss `mode`.
    public func options(learningRate: Float, mode: GANMode) throws -> AdversarialOptions {
        if labelSmoothing < 1, mode == .hinge || mode == .wgangp {
            throw ValidationError("--label-smoothing applies to --gan-mode vanilla and lsgan, not \(mode.rawValue) (it has no targets)")
        }
        var options = AdversarialOptions()
        options.realLabel = labelSmoothing
        options.discriminatorSteps = dSteps
        options.discriminatorLearningRateScale = (lrD ?? learningRate) / learningRate
        options.generatorAverageDecay = emaG
        options.lambdaFeatureMatching = lambdaFeatureMatching
        options.lambdaHistorical = lambdaHistorical
        options.lambdaGradientPenalty = lambdaGp
        options.r1Gamma = r1Gamma
        return options
    }
}

/// The exported generators of a run with `--ema-g`: an average of each generator's weights (buffers such as batch
/// norm statistics copied from the live network at export), saved in the training state as `ema.<network>.<name>`.
final class GeneratorAverages {
    private let entries: [(name: String, live: Module, average: ExponentialMovingAverage, exported: Module)]

    /// `networks` are (name, live network, a second network of the same architecture to export); none when `decay` is 0.
    init(decay: Float, networks: [(name: String, live: Module, twin: Module)]) {
        entries = decay > 0
            ? networks.map { ($0.name, $0.live, ExponentialMovingAverage(parameters: $0.live.namedParameters(), decay: decay), $0.twin) }
            : []
    }

    var isEnabled: Bool { !entries.isEmpty }

    /// Moves the averages after a generator step.
    func update() { for entry in entries { entry.average.update() } }

    /// The network to export under `name`: the average when enabled, else `live`.
    func exported(_ name: String, live: Module) -> Module {
        guard let entry = entries.first(where: { $0.name == name }) else { return live }
        try? entry.exported.load(stateDictionary: Dictionary(entry.live.stateDictionary(), uniquingKeysWith: { first, _ in first }))
        try? entry.average.copy(into: entry.exported)
        return entry.exported
    }

    func buffers() -> [String: Tensor] {
        entries.reduce(into: [:]) { table, entry in table.merge(entry.average.buffers(prefix: "ema.\(entry.name).")) { first, _ in first } }
    }

    func restore(_ buffers: [String: Tensor]) throws {
        for entry in entries { try entry.average.restore(buffers: buffers, prefix: "ema.\(entry.name).") }
    }
}

/// Historical averaging (Salimans et al. 2016): for each network, the running mean θ̄ of its weights over all past
/// steps (starting at its initial weights) and the penalty λ‖θ − θ̄‖², whose gradient 2λ(θ − θ̄) is added to the
/// parameters' gradients before the optimiser steps. Saved in the training state as `history.<network>.<name>`.
public final class HistoricalAverages {
    private let lambda: Float
    private let entries: [(name: String, parameters: [(name: String, tensor: Tensor)], means: [Tensor])]
    private let steps = Tensor(shape: [1], repeating: 1)

    public init(lambda: Float, networks: [(name: String, module: Module)]) {
        self.lambda = lambda
        entries = lambda > 0 ? networks.map { network in
            let parameters = network.module.namedParameters()
            return (network.name, parameters, parameters.map { $0.tensor.copied() })
        } : []
    }

    /// Adds 2λ(θ − θ̄) to the gradients of the parameters of `networks`; returns λ‖θ − θ̄‖² (nil when off).
    @discardableResult
    public func addPenaltyGradients(_ networks: String...) -> Float? {
        let chosen = entries.filter { networks.contains($0.name) }
        guard !chosen.isEmpty else { return nil }
        return withoutGradient {
            var penalty: Float = 0
            for entry in chosen {
                for (parameter, mean) in zip(entry.parameters.map(\.tensor), entry.means) {
                let difference = parameter - mean
                penalty += lambda * (difference * difference).sum().item
                    let added = difference * (2 * lambda)
                    parameter.grad = parameter.grad.map { $0 + added } ?? added
                }
            }
            return penalty
        }
    }

    /// After every network has stepped: θ̄ ← θ̄ + (θ − θ̄)/(steps + 1).
    public func update() {
        guard !entries.isEmpty else { return }
        let count = steps.scalars[0] + 1
        steps.fill(count)
        withoutGradient {
            for entry in entries {
                for (parameter, mean) in zip(entry.parameters.map(\.tensor), entry.means) {
                    mean.assign(mean + (parameter - mean) / count)
                }
            }
        }
    }

    public func buffers() -> [String: Tensor] {
        guard !entries.isEmpty else { return [:] }
        var table = ["history.steps": steps]
        for entry in entries {
            for (parameter, mean) in zip(entry.parameters, entry.means) { table["history.\(entry.name).\(parameter.name)"] = mean }
        }
        return table
    }

    public func restore(_ buffers: [String: Tensor]) throws {
        guard !entries.isEmpty else { return }
        for (key, tensor) in self.buffers() {
            guard let saved = buffers[key], saved.shape == tensor.shape else {
                throw CheckpointError.missingTensor(path: "the training state", key: key)
            }
            tensor.assign(saved)
        }
    }
}

/// Feature matching's loss between the discriminator's activations on generated and real inputs (all but the
/// output, the real ones without gradient): the mean over layers of L1 per position (`paired`), or of L1 between
/// per-channel means over batch and positions (unpaired images). Also returns the generated images' output.
func featureMatching(_ discriminator: Module, fake: Tensor, real: Tensor, paired: Bool) -> (loss: Tensor, output: Tensor) {
    guard let critic = discriminator as? any FeatureDiscriminator else { preconditionFailure("no features for feature matching") }
    let fakeFeatures = critic.features(fake)
    let realFeatures = withoutGradient { critic.features(real) }
    let hidden = zip(fakeFeatures.dropLast(), realFeatures.dropLast()).map { fake, real in
        paired ? Tensor.l1Loss(fake, real) : Tensor.l1Loss(fake.mean(axes: [0, 2, 3]), real.mean(axes: [0, 2, 3]))
    }
    let loss = hidden.dropFirst().reduce(hidden[0], +) / Float(hidden.count)
    return (loss, fakeFeatures.last!)
}

/// WGAN-GP's gradient penalty (junyanz's `cal_gradient_penalty`, type "mixed"): λ·mean over images of
/// (‖∇ₓ̂ D(x̂) + 1e-16‖₂ − 1)², x̂ = α·real + (1 − α)·fake with α ~ U(0, 1) per image (drawn from `random` unless given,
/// `[N, 1, 1, 1]`); differentiable in the critic's weights (gradients of gradients). Also returns the mean gradient norm.
public func gradientPenalty(_ critic: Module, real: Tensor, fake: Tensor, random: RandomGenerator, lambda: Float = 10,
                            alpha given: Tensor? = nil) -> (loss: Tensor, meanNorm: Float) {
    let count = real.shape[0]
    let mixed = withoutGradient {
        let alpha = given ?? Tensor.randomUniform([count, 1, 1, 1], low: 0, high: 1, generator: random)
        return real * alpha + fake * (1 - alpha)
    }
    mixed.requiresGrad = true
    let gradient = critic(mixed).sum().gradients(withRespectTo: [mixed], createGraph: true)[0].reshaped([count, -1]) + 1e-16
    let norms = (gradient * gradient).sum(axes: [1]).sqrt()
    let loss = (norms - 1).pow(2).mean() * lambda
    return (loss, norms.mean().item)
}

/// The R1 penalty (Mescheder et al. 2018) with the critic's output on `real`: γ/2 · mean over images of ‖∇ₓ D(x)‖²,
/// differentiable in the critic's weights. `critic` runs once on a copy of `real`; its output is returned for the
/// real term of the discriminator's loss.
public func r1Penalty(_ critic: Module, real: Tensor, gamma: Float) -> (loss: Tensor, output: Tensor) {
    let input = real.detached().copied()
    input.requiresGrad = true
    let output = critic(input)
    let gradient = output.sum().gradients(withRespectTo: [input], createGraph: true)[0].reshaped([real.shape[0], -1])
    return ((gradient * gradient).sum(axes: [1]).mean() * (gamma / 2), output)
}

/// The discriminator's part of a step on `real` and (detached) `fake` images: ½(loss(D(real)) + loss(D(fake))) plus,
/// when the options ask, the R1 penalty on `real` and WGAN-GP's gradient penalty on interpolates (α drawn from
/// `random`). Backpropagates the sum into the critic's gradients and returns its parts.
func discriminatorBackward(_ critic: Module, real: Tensor, fake: Tensor, mode: GANMode, options: AdversarialOptions,
                           random: RandomGenerator) -> (real: Float, fake: Float, r1: Float?, gradientPenalty: Float?) {
    var penalties: Tensor?
    var (r1Value, penaltyValue): (Float?, Float?) = (nil, nil)
    let realOutput: Tensor
    if options.r1Gamma > 0 {
        let r1 = r1Penalty(critic, real: real, gamma: options.r1Gamma)
        (penalties, realOutput, r1Value) = (r1.loss, r1.output, r1.loss.item)
    } else {
        realOutput = critic(real)
    }
    if mode == .wgangp {
        let penalty = gradientPenalty(critic, real: real, fake: fake, random: random, lambda: options.lambdaGradientPenalty)
        penalties = penalties.map { $0 + penalty.loss } ?? penalty.loss
        penaltyValue = penalty.loss.item
    }
    let lossReal = mode.discriminatorLoss(realOutput, real: true, realTarget: options.realLabel)
    let lossFake = mode.discriminatorLoss(critic(fake), real: false)
    let loss = (lossReal + lossFake) * 0.5
    (penalties.map { loss + $0 } ?? loss).backward()
    return (lossReal.item, lossFake.item, r1Value, penaltyValue)
}

/// `options.discriminatorSteps` updates of one discriminator (named `D`) on the same `real` and (detached) `fake`
/// images: each zeroes its gradients, runs `refresh` (the `--norm virtual_batch` reference pass), backpropagates
/// ``discriminatorBackward(_:real:fake:mode:options:random:)`` and the historical-averaging penalty, and steps. Returns
/// the last update's losses: `D_real`, `D_fake`, and `D_R1`, `D_GP`, `D_hist` when those are on.
func updateDiscriminator(_ critic: Module, optimizer: any Optimizer, real: Tensor, fake: Tensor, mode: GANMode,
                         options: AdversarialOptions, random: RandomGenerator, history: HistoricalAverages,
                         refresh: () -> Void) -> [String: Float] {
    var losses: [String: Float] = [:]
    for _ in 0..<options.discriminatorSteps {
        optimizer.zeroGrad()
        refresh()
        let parts = discriminatorBackward(critic, real: real, fake: fake, mode: mode, options: options, random: random)
        (losses["D_real"], losses["D_fake"]) = (parts.real, parts.fake)
        (losses["D_R1"], losses["D_GP"]) = (parts.r1, parts.gradientPenalty)
        losses["D_hist"] = history.addPenaltyGradients("D")
        optimizer.step()
    }
    return losses
}

/// The generator's adversarial terms for its images `fake`: the GAN loss of D(fake) and, with
/// `--lambda-feature-matching`, feature matching against `real` (unweighted; see ``featureMatching``).
func generatorAdversarialLoss(_ critic: Module, fake: Tensor, real: Tensor, paired: Bool, mode: GANMode,
                              options: AdversarialOptions) -> (gan: Tensor, matching: Tensor?) {
    guard options.lambdaFeatureMatching > 0 else { return (mode.generatorLoss(critic(fake)), nil) }
    let matching = featureMatching(critic, fake: fake, real: real, paired: paired)
    return (mode.generatorLoss(matching.output), matching.loss)
}

/// The training-state buffers of a recipe's stabilisers: the generators' averages, the historical means and the
/// reference batches.
func stabiliserBuffers(_ averages: GeneratorAverages, _ history: HistoricalAverages, _ references: ReferenceBatches) -> [String: Tensor] {
    averages.buffers().merging(history.buffers()) { first, _ in first }.merging(references.buffers()) { first, _ in first }
}

/// Restores what ``stabiliserBuffers(_:_:_:)`` saved.
func restoreStabilisers(_ averages: GeneratorAverages, _ history: HistoricalAverages, _ references: ReferenceBatches,
                        from buffers: [String: Tensor]) throws {
    try averages.restore(buffers)
    try history.restore(buffers)
    references.restore(buffers)
}

/// The reference batches of `--norm virtual_batch`: copies of the first batch a run trains on (A and B), kept in the
/// training state (`reference.A`, `reference.B`) so a resumed run normalises as the uninterrupted one.
final class ReferenceBatches {
    let isEnabled: Bool
    private(set) var a: Tensor?
    private(set) var b: Tensor?

    init(enabled: Bool) { isEnabled = enabled }

    /// Keeps `batch` when none is kept yet.
    func remember(_ batch: Batch) {
        guard isEnabled, a == nil else { return }
        a = batch.a.copied()
        b = batch.b?.copied()
    }

    /// The reference pass of each (network, its reference input): to run before every forward whose graph a backward
    /// will consume (the pass's statistics are part of that graph).
    func refresh(_ pairs: [(Module, Tensor?)]) {
        guard isEnabled else { return }
        for (network, input) in pairs {
            if let input { VirtualBatchNorm2d.collectReference(network, input) }
        }
    }

    func buffers() -> [String: Tensor] {
        var table: [String: Tensor] = [:]
        if let a { table["reference.A"] = a }
        if let b { table["reference.B"] = b }
        return table
    }

    func restore(_ buffers: [String: Tensor]) {
        guard isEnabled else { return }
        a = buffers["reference.A"]?.copied()
        b = buffers["reference.B"]?.copied()
    }
}
