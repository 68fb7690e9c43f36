import Console
import Datasets
import Foundation
import SafeFiles
import ImageIO
import Models
import NN
import Tensor

/// Learning-rate policies (`--lr_policy`).
public enum LearningRatePolicy: String, Sendable, CaseIterable {
    /// Constant for `epochs`, then linear decay to zero over `decayEpochs` (the reference default).
    case linear
    /// ×0.1 every `decayInterval` epochs.
    case step
    /// Cosine annealing to zero over `epochs + decayEpochs`.
    case cosine
}

/// What every recipe's run shares: where it writes, the schedule, bounds and feedback cadence.
public struct TrainingOptions: Sendable {
    public var name: String
    public var checkpoints: URL
    public var learningRate: Float = 2e-4
    public var beta1: Float = 0.5
    public var beta2: Float = 0.999
    /// Epochs at the initial rate (`--n_epochs`).
    public var epochs = 100
    /// Epochs of decay (`--n_epochs_decay`).
    public var decayEpochs = 100
    public var policy = LearningRatePolicy.linear
    /// Epochs between ×0.1 steps of the `step` policy (`--lr_decay_iters`).
    public var decayInterval = 50
    public var batchSize = 1
    public var seed: UInt64 = 0
    public var maxIterations: Int?
    public var maxMinutes: Double?
    /// Save the full state every this many iterations (and at every epoch end and every stop).
    public var saveEvery = 500
    /// Keep generator snapshots every this many epochs (and after the last).
    public var saveEpochEvery = 5
    /// Log losses every this many iterations.
    public var printEvery = 20
    /// Redraw the loss curve and refresh the page's images every this many iterations (and at every epoch end).
    public var displayEvery = 200
    /// A live progress bar on standard error (only when it is a terminal).
    public var progressBar = true
    /// Start over when the run folder already holds a run (its files are removed first); otherwise such a run is
    /// refused unless resumed.
    public var replaceExisting = false
    /// Facts saved with the state (`TrainingState.runMetadata`), e.g. the command line that started the run.
    public var runMetadata: [String: String] = [:]
    /// Asked after every iteration: a signal number stops the run there (state saved, ``TrainingError/interrupted``).
    public var stopRequested: (@Sendable () -> Int32?)?
    /// Generators are written as float16 where it holds them closely (half the disk), float32 elsewhere.
    public var generatorPrecision = StoragePrecision.float16WhereCloseEnough

    public init(name: String, checkpoints: URL) {
        self.name = name
        self.checkpoints = checkpoints
    }

    /// The schedule of ``policy``.
    public var schedule: LearningRateSchedule {
        switch policy {
        case .linear: return .linearDecay(constantEpochs: epochs, decayEpochs: decayEpochs)
        case .step: return .step(stepSize: decayInterval, gamma: 0.1)
        case .cosine: return .cosine(period: epochs + decayEpochs)
        }
    }
}

/// A training recipe: its networks and optimisers, one optimisation step, and what it shows and exports.
public protocol TrainingRecipe: AnyObject {
    /// The generator behind initialisation, dropout and image pools (saved in the training state).
    var random: RandomGenerator { get }
    /// Networks saved in the training state, by name (`G_A`, `D_A`, … or `G`, `D`).
    var modules: [String: Module] { get }
    /// Optimisers saved in the training state, by name.
    var optimizers: [String: any Optimizer] { get }
    /// Each optimiser's learning rate relative to the run's scheduled one, by name (default: all 1; `--lr-d`).
    var learningRateScales: [String: Float] { get }
    /// Loss names in display order.
    var lossNames: [String] { get }
    /// Image labels in display order (`real_A`, `fake_B`, …).
    var visualLabels: [String] { get }
    /// Generators written as models `latest_net_<name>.safetensors`, with their metadata.
    var exportedGenerators: [(name: String, module: Module, metadata: [String: String])] { get }
    /// One optimisation step on `batch`; returns the losses.
    func step(_ batch: Batch) -> [String: Float]
    /// The first sample of the latest step's images, by label.
    func visuals() -> [(label: String, image: Image)]
    /// Tensors besides the networks a run must keep to resume exactly (image pools).
    func buffers() -> [String: Tensor]
    func restore(buffers: [String: Tensor]) throws
}

/// `table` with `value` added under `name` when there is one: the module and optimiser tables of recipes whose
/// discriminator is optional.
func adding<Value>(_ table: [String: Value], _ name: String, _ value: Value?) -> [String: Value] {
    var table = table
    if let value { table[name] = value }
    return table
}

/// A discriminator of `architecture` initialised as the reference (N(0, 0.02) from `random`) with its Adam (the run's
/// learning rate and betas), or neither when the recipe has no adversarial term.
func optionalDiscriminator(when enabled: Bool, _ architecture: DiscriminatorArchitecture, inputChannels: Int,
                           random: RandomGenerator, training: TrainingOptions) -> (network: Module?, optimizer: Adam?) {
    guard enabled else { return (nil, nil) }
    let network = architecture.makeDiscriminator(inputChannels: inputChannels, generator: random)
    network.initializeWeights(.normal(mean: 0, standardDeviation: 0.02), generator: random)
    return (network, Adam(parameters: network.namedParameters(), learningRate: training.learningRate, beta1: training.beta1,
                          beta2: training.beta2))
}

extension TrainingRecipe {
    public var learningRateScales: [String: Float] { [:] }
    public func buffers() -> [String: Tensor] { [:] }
    public func restore(buffers: [String: Tensor]) throws {}
}

/// Why a run could not start or continue.
public enum TrainingError: Error, CustomStringConvertible {
    case noState(path: String)
    case emptyDataset(String)
    /// The saved state does not fit the recipe as configured now.
    case incompatibleState(String)
    /// The run folder already holds a run, and neither resuming nor replacing it was asked for.
    case runExists(path: String, iterations: Int?)
    /// A signal stopped the run after `iteration` (its state is saved).
    case interrupted(signal: Int32, iteration: Int)

    public var description: String {
        switch self {
        case .runExists(let path, let iterations):
            return "\(path): a run exists here" + (iterations.map { " (\($0) iterations)" } ?? "")
                + "; --continue resumes it, --overwrite starts over (and deletes it), or choose another --name"
        case .interrupted(let signal, let iteration):
            return "interrupted by \(signal == SIGINT ? "Ctrl-C" : "signal \(signal)") after iteration \(iteration); the state is saved"
        case .incompatibleState(let reason): return "cannot continue: \(reason) (continue with the options the run started with)"
        case .noState(let path): return "\(path): no training state to continue from (train without --continue first)"
        case .emptyDataset(let reason): return "no training data: \(reason)"
        }
    }
}

/// Runs a recipe over a dataset: epochs, the learning-rate schedule, bounds, checkpoints and feedback.
///
/// Writes under `checkpoints/name/`: `latest_net_<G>.safetensors` (loadable by `stylize --model`) and
/// `epoch_<N>_net_<G>.safetensors` snapshots, `latest_state.safetensors` (all networks, optimiser moments,
/// counters, random state, pools: ``resume()`` continues exactly), `loss_log.jsonl`, `loss_curve.png` and
/// `web/index.html` with the images of each epoch.
public final class Trainer {
    public let recipe: any TrainingRecipe
    public let options: TrainingOptions
    let loader: DataLoader
    public private(set) var epoch = 0
    public private(set) var iterationInEpoch = 0
    public private(set) var iterations = 0
    /// Every logged record of this run (earlier sessions included after ``resume()``).
    public private(set) var records: [LossRecord] = []
    /// The (1-based) epoch of this session's latest step: the one whose images the recipe holds.
    var steppedEpoch: Int?

    public var directory: URL { options.checkpoints.appendingPathComponent(options.name) }
    var stateURL: URL { directory.appendingPathComponent("latest_state.safetensors") }
    var logURL: URL { directory.appendingPathComponent("loss_log.jsonl") }
    public var page: RunPage { RunPage(directory: directory.appendingPathComponent("web"), title: options.name) }

    /// Data-parallel training's ranks (nil: this process alone).
    public let parallel: DataParallel?
    /// Whether this process writes the run's files and prints (rank 0, or the only process).
    public var isWriter: Bool { (parallel?.rank ?? 0) == 0 }

    /// - Parameter parallel: the MPI job to train in (each rank takes its share of every batch; gradients are
    ///   averaged before every optimiser step; rank 0 alone writes). A sample that cannot be loaded then stops the run
    ///   (skipping it on one rank would leave the ranks out of step).
    public init(recipe: any TrainingRecipe, options: TrainingOptions, dataset: any Dataset, workers: Int = 2,
                parallel: DataParallel? = nil) throws {
        guard dataset.count > 0 else { throw TrainingError.emptyDataset("the dataset has no images") }
        self.recipe = recipe
        self.options = options
        self.parallel = parallel
        loader = DataLoader(dataset: dataset, batchSize: options.batchSize, shuffle: true, seed: options.seed, workers: workers,
                            failurePolicy: parallel == nil ? .skip : .fail, replica: parallel?.rank ?? 0, replicas: parallel?.size ?? 1)
        if let parallel {
            for optimizer in recipe.optimizers.values { optimizer.gradientReduction = { parallel.average($0) } }
        }
    }

    var state: TrainingState { state(otherRanks: [:]) }

    /// The state to save; `otherRanks`: the buffers of ranks > 0 (``DataParallel/gatherBuffers(_:)``).
    func state(otherRanks: [String: Tensor]) -> TrainingState {
        var state = TrainingState(modules: recipe.modules, optimizers: recipe.optimizers,
                                  counters: ["epoch": epoch, "iteration_in_epoch": iterationInEpoch, "iterations": iterations],
                                  buffers: recipe.buffers().merging(otherRanks) { own, _ in own }, generator: recipe.random)
        state.runMetadata = options.runMetadata
        return state
    }

    /// Whether ``resume()`` restored a state (a run that continues may write into its folder).
    public private(set) var resumed = false

    /// Files of a run in ``directory``: the state, the loss log and curve, exported generators, the page.
    func runFiles() -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { name in
            name == "latest_state.safetensors" || name == "loss_log.jsonl" || name == "loss_curve.png" || name == "web"
                || (name.hasSuffix(".safetensors") && (name.hasPrefix("latest_net_") || (name.hasPrefix("epoch_") && name.contains("_net_"))))
        }.map { directory.appendingPathComponent($0) }
    }

    /// Refuses to start a fresh run over an existing one, or removes it with ``TrainingOptions/replaceExisting``.
    func claimDirectory() throws {
        AtomicFile.removeStale(in: directory, foundationTemporaries: true)
        guard !resumed else { return }
        let existing = runFiles()
        // A run is its state, its loss log or its exported generators; a page or curve alone is not.
        let defining = existing.filter { !["loss_curve.png", "web"].contains($0.lastPathComponent) && !$0.lastPathComponent.hasPrefix("epoch_") }
        guard !defining.isEmpty else { return }
        guard options.replaceExisting else {
            let iterations = (try? Safetensors.metadata(contentsOf: stateURL))?["counter.iterations"].flatMap(Int.init)
            throw TrainingError.runExists(path: directory.path, iterations: iterations)
        }
        for url in existing {
            do { try FileManager.default.removeItem(at: url) } catch { throw FileProblem.from(error, path: url.path) }
        }
    }

    /// Restores `latest_state.safetensors` and the loss log up to the restored iteration.
    public func resume() throws {
        guard FileManager.default.fileExists(atPath: stateURL.path) else { throw TrainingError.noState(path: stateURL.path) }
        var restored = state
        try restored.load(from: stateURL)
        try recipe.restore(buffers: parallel?.ownBuffers(restored.buffers) ?? restored.buffers)
        epoch = restored.counters["epoch"] ?? 0
        iterationInEpoch = restored.counters["iteration_in_epoch"] ?? 0
        iterations = restored.counters["iterations"] ?? 0
        // Records logged after the last saved state are dropped: the resumed run logs them again.
        records = readLog().filter { $0.iteration <= iterations }
        if isWriter { try rewriteLog() }
        resumed = true
    }

    /// Saves the full state and the latest generators (atomically); with `epochSnapshot`, also per-epoch generators.
    /// `otherRanks`: buffers of the other ranks of a data-parallel run, saved in the state.
    public func save(epochSnapshot: Bool = false, otherRanks: [String: Tensor] = [:]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try state(otherRanks: otherRanks).save(to: stateURL)
        for exported in recipe.exportedGenerators {
            let metadata = exported.metadata.merging(["epoch": String(epoch), "iterations": String(iterations)]) { own, _ in own }
            try exported.module.save(to: directory.appendingPathComponent("latest_net_\(exported.name).safetensors"),
                                     precision: options.generatorPrecision, metadata: metadata)
            if epochSnapshot {
                try exported.module.save(to: directory.appendingPathComponent("epoch_\(epoch)_net_\(exported.name).safetensors"),
                                         precision: options.generatorPrecision, metadata: metadata)
            }
        }
    }

    /// The total number of iterations the schedule asks for.
    public var scheduledIterations: Int { (options.epochs + options.decayEpochs) * loader.batchCount }

    /// Trains until the schedule ends, a `maxIterations`/`maxMinutes` bound or a stop signal; saves at every stop.
    ///
    /// A fresh run refuses a folder that holds a run (``TrainingError/runExists(path:iterations:)``) unless
    /// ``TrainingOptions/replaceExisting``. Temporary files a killed run left are removed first. Feedback files (curve,
    /// page, images) that cannot be written are warned about and the run goes on; so are periodic saves (the last
    /// good state stays), but the final save must succeed.
    ///
    /// - Parameters:
    ///   - log: receives the periodic loss lines and the final message (default: standard output).
    ///   - warn: receives warnings (default: standard error).
    /// - Throws: ``TrainingError/interrupted(signal:iteration:)`` after saving, when ``TrainingOptions/stopRequested``
    ///   reported a signal.
    public func run(log: (String) -> Void = { print($0); fflush(nil) },
                    warn: (String) -> Void = { FileHandle.standardError.write(Data(("warning: " + $0 + "\n").utf8)) }) throws {
        let start = Date()
        // Under MPI every rank runs this loop in step; rank 0 alone writes files and prints.
        let writer = isWriter
        let log = writer ? log : { _ in }
        var lossLog: FileHandle?
        if writer {
            try Folder.create(directory)
            try claimDirectory()
            try? Folder.create(page.imagesDirectory)
            AtomicFile.removeStale(in: page.imagesDirectory)
            if !FileManager.default.fileExists(atPath: logURL.path) { try rewriteLog() }
            lossLog = try FileHandle(forWritingTo: logURL)
            lossLog?.seekToEndOfFile()
        }
        defer { try? lossLog?.close() }
        // The ranks start from rank 0's weights (identical already when seeded alike; a resumed state is read by all).
        parallel?.broadcast(recipe.modules)
        let progress = TrainingProgress(enabled: options.progressBar && writer, startIteration: iterations,
                                        targetIterations: min(scheduledIterations, options.maxIterations ?? .max),
                                        maxMinutes: options.maxMinutes)
        let totalEpochs = options.epochs + options.decayEpochs
        var latest: [String: Float] = [:]
        func bounded() -> Bool {
            if let maximum = options.maxIterations, iterations >= maximum { return true }
            let late = options.maxMinutes.map { Date().timeIntervalSince(start) >= $0 * 60 } ?? false
            // The ranks' clocks differ: they stop together when any reaches the bound.
            return parallel?.any(late) ?? late
        }
        var warned = Set<String>()
        /// Runs `body`; a failure is warned about (once per kind) and the run goes on.
        func tolerating(_ what: String, _ body: () throws -> Void) {
            do { try body() } catch {
                guard warned.insert(what).inserted else { return }
                progress.status.clear()
                warn("\(what) failed, training goes on: \(error)")
            }
        }
        /// A stop signal received here (or, under MPI, by any rank).
        func requestedStop() -> Int32? {
            let signal = options.stopRequested?()
            guard let parallel else { return signal }
            return parallel.agreedSignal(signal)
        }
        /// Every rank takes part (the checksum, the other ranks' buffers); rank 0 writes.
        func saveCollectively(epochSnapshot: Bool = false, tolerant: Bool) throws {
            var otherRanks: [String: Tensor] = [:]
            if let parallel {
                try parallel.verifyIdentical(recipe.modules)
                otherRanks = try parallel.gatherBuffers(recipe.buffers())
            }
            guard writer else { return }
            if tolerant {
                tolerating("saving the state") { try save(epochSnapshot: epochSnapshot, otherRanks: otherRanks) }
            } else {
                try save(epochSnapshot: epochSnapshot, otherRanks: otherRanks)
            }
        }
        func stop(_ message: String) throws {
            progress.finish()
            try saveCollectively(tolerant: false)
            if writer { tolerating("writing the loss curve and page") { try refreshFeedback(latest: latest) } }
            log(message)
        }
        while epoch < totalEpochs {
            let rate = options.schedule.learningRate(base: options.learningRate, epoch: epoch)
            let scales = recipe.learningRateScales
            for (name, optimizer) in recipe.optimizers { optimizer.learningRate = rate * (scales[name] ?? 1) }
            let iterator = loader.batches(epoch: epoch)
            var position = 0
            while let batch = try iterator.nextBatch() {
                position += 1
                if position <= iterationInEpoch { continue }
                if bounded() {
                    try stop("stopped after iteration \(iterations), in epoch \(epoch + 1) of \(totalEpochs) (bound reached); state saved to \(stateURL.path)")
                    return
                }
                latest = recipe.step(batch)
                steppedEpoch = epoch + 1
                iterations += 1
                iterationInEpoch += 1
                progress.update(iteration: iterations, epoch: epoch, totalEpochs: totalEpochs, losses: latest, names: recipe.lossNames)
                if iterations % options.printEvery == 0 {
                    // Under MPI the logged losses are the means over the ranks.
                    let record = LossRecord(epoch: epoch + 1, iteration: iterations, losses: parallel?.mean(latest) ?? latest)
                    records.append(record)
                    lossLog?.write(Trainer.encode(record, learningRate: rate, seconds: Date().timeIntervalSince(start)))
                    if !progress.isLive { log(progress.line(iteration: iterations, epoch: epoch, totalEpochs: totalEpochs, losses: latest, names: recipe.lossNames)) }
                }
                if iterations % options.saveEvery == 0 { try saveCollectively(tolerant: true) }
                if writer, iterations % options.displayEvery == 0 {
                    tolerating("writing the page's images") { try page.saveVisuals(epoch: epoch + 1, recipe.visuals()) }
                    tolerating("writing the loss curve and page") { try refreshFeedback(latest: latest) }
                }
                if let signal = requestedStop() {
                    try stop("stopped after iteration \(iterations), in epoch \(epoch + 1) of \(totalEpochs) (interrupted); state saved to \(stateURL.path); --continue resumes")
                    throw TrainingError.interrupted(signal: signal, iteration: iterations)
                }
            }
            if writer { tolerating("writing the page's images") { try page.saveVisuals(epoch: epoch + 1, recipe.visuals()) } }
            epoch += 1
            iterationInEpoch = 0
            try saveCollectively(epochSnapshot: epoch % options.saveEpochEvery == 0 || epoch == totalEpochs, tolerant: true)
            if writer { tolerating("writing the loss curve and page") { try refreshFeedback(latest: latest) } }
        }
        try stop("finished \(totalEpochs) epochs, \(iterations) iterations; generators in \(directory.path)")
    }

    /// Redraws `loss_curve.png` and rewrites the run page.
    func refreshFeedback(latest: [String: Float]) throws {
        try LossPlot.render(records, names: recipe.lossNames, title: options.name)
            .write(to: directory.appendingPathComponent("loss_curve.png"))
        if let steppedEpoch { try page.saveVisualsIfMissing(epoch: steppedEpoch, recipe: recipe) }
        var notes = ["epoch \(epoch), iteration \(iterations) of \(scheduledIterations) scheduled"]
        if !latest.isEmpty {
            notes.append("latest losses: " + recipe.lossNames.compactMap { name in latest[name].map { String(format: "%@ %.4f", name, $0) } }
                .joined(separator: "  "))
        }
        notes.append("generators: " + recipe.exportedGenerators.map { "latest_net_\($0.name).safetensors" }.joined(separator: ", "))
        try page.write(labels: recipe.visualLabels, notes: notes, figure: "../loss_curve.png")
    }

    static func encode(_ record: LossRecord, learningRate: Float, seconds: Double) -> Data {
        var object: [String: Any] = ["epoch": record.epoch, "iteration": record.iteration, "lr": learningRate, "seconds": seconds]
        for (key, value) in record.losses { object[key] = value }
        let line = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return line + Data("\n".utf8)
    }

    /// The records of `loss_log.jsonl` (unreadable lines skipped).
    func readLog() -> [LossRecord] {
        guard let text = try? String(contentsOf: logURL, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let iteration = (object["iteration"] as? NSNumber)?.intValue else { return nil }
            var losses: [String: Float] = [:]
            for (key, value) in object where !["epoch", "iteration", "lr", "seconds"].contains(key) {
                if let number = value as? NSNumber { losses[key] = number.floatValue }
            }
            return LossRecord(epoch: (object["epoch"] as? NSNumber)?.intValue ?? 0, iteration: iteration, losses: losses)
        }
    }

    /// Rewrites `loss_log.jsonl` from ``records`` (keeping each line's learning rate and time where known).
    func rewriteLog() throws {
        var kept: [Int: Data] = [:]
        if let text = try? String(contentsOf: logURL, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                   let iteration = (object["iteration"] as? NSNumber)?.intValue { kept[iteration] = Data(line.utf8) + Data("\n".utf8) }
            }
        }
        var data = Data()
        for record in records { data += kept[record.iteration] ?? Trainer.encode(record, learningRate: 0, seconds: 0) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try AtomicFile.write(data, to: logURL)
    }
}

extension RunPage {
    /// Makes sure the current epoch has a row once a step has run (a run stopped mid-epoch shows its images).
    func saveVisualsIfMissing(epoch: Int, recipe: any TrainingRecipe) throws {
        guard let first = recipe.visualLabels.first else { return }
        let name = String(format: "epoch%03d_%@.png", epoch, first)
        if !FileManager.default.fileExists(atPath: imagesDirectory.appendingPathComponent(name).path) {
            try saveVisuals(epoch: epoch, recipe.visuals())
        }
    }
}

/// Progress of a run: a live bar on a terminal (iteration, epoch, it/s, ETA, losses) fitted to its width, else nothing
/// (the trainer logs lines).
final class TrainingProgress {
    let status: StatusLine
    var isLive: Bool { status.isLive }
    let start = Date()
    let startIteration: Int
    let targetIterations: Int
    let maxMinutes: Double?

    init(enabled: Bool, startIteration: Int, targetIterations: Int, maxMinutes: Double?) {
        status = StatusLine(enabled: enabled)
        self.startIteration = startIteration
        self.targetIterations = max(targetIterations, startIteration)
        self.maxMinutes = maxMinutes
    }

    func update(iteration: Int, epoch: Int, totalEpochs: Int, losses: [String: Float], names: [String]) {
        guard isLive else { return }
        let fraction = Double(iteration) / Double(max(targetIterations, 1))
        status.show(progressBar(fraction) + " " + line(iteration: iteration, epoch: epoch, totalEpochs: totalEpochs, losses: losses, names: names))
    }

    func finish() { status.finish() }

    /// `it 120/4000  epoch 3/200  1.25 it/s  ETA 51:40  D_A 0.2500 …`
    func line(iteration: Int, epoch: Int, totalEpochs: Int, losses: [String: Float], names: [String]) -> String {
        let elapsed = Date().timeIntervalSince(start)
        let rate = Double(iteration - startIteration) / max(elapsed, 1e-6)
        var remaining = Double(targetIterations - iteration) / max(rate, 1e-9)
        if let maxMinutes { remaining = min(remaining, max(0, maxMinutes * 60 - elapsed)) }
        let summary = names.compactMap { name in losses[name].map { String(format: "%@ %.4f", name, $0) } }.joined(separator: "  ")
        return String(format: "it %d/%d  epoch %d/%d  %.2f it/s  ETA %@  %@", iteration, targetIterations, epoch + 1, totalEpochs,
                      rate, ProgressClock.format(remaining), summary)
    }
}
