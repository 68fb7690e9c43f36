import ArgumentParser
import Distributed
import Foundation
import NN
import Tensor
import Training

/// The command line this process was started with, or one a test sets for a command it runs in-process.
enum Invocation {
    @TaskLocal static var arguments: [String]?

    /// The tokens after `train RECIPE` (what the recipe's command parsed).
    static func trainingTokens(recipe: String) -> [String] {
        let all = arguments ?? Array(CommandLine.arguments.dropFirst())
        for index in all.indices.dropLast() where all[index] == "train" && all[index + 1] == recipe {
            return Array(all[(index + 2)...])
        }
        return []
    }
}

/// `stylize train NAME` for one registered recipe: the shared options (run, data), the recipe's own, and the launch.
///
/// A fresh run records its options in the state; `--continue` takes the recorded options, lets the command line change
/// the others (schedule, bounds, data), refuses a change to the networks naming both values, and resumes.
struct TrainRecipeCommand<Definition: RecipeDefinition>: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: Definition.commandName, abstract: Definition.abstract, discussion: Definition.discussion)
    }

    @OptionGroup(title: "Run") var session: RunArguments
    @OptionGroup(title: "Data") var data: ImageDataArguments
    @OptionGroup(title: "Recipe") var recipe: Definition.Arguments

    func validate() throws {
        // A continued run takes --dataroot and the rest from its state.
        if data.dataroot == nil && !session.resume && Definition.needsDataroot(recipe) { throw ValidationError("give --dataroot") }
        // Sizes are checked here, before anything runs (prepare checks what depends on the networks).
        _ = try data.preprocessing(defaults: Definition.defaults(recipe))
        _ = try session.trainingOptions(defaults: Definition.defaults(recipe))
    }

    func run() throws {
        let tokens = Invocation.trainingTokens(recipe: Definition.commandName)
        guard session.resume else { return try start(recorded: TrainingInvocation.recorded(tokens)) }
        let state = session.directory.appendingPathComponent("latest_state.safetensors")
        guard FileManager.default.fileExists(atPath: state.path) else { throw TrainingError.noState(path: state.path) }
        let metadata = try Safetensors.metadata(contentsOf: state)
        guard let text = metadata["run.arguments"], let stored = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else {
            // A run from before options were recorded: continue with what this command line says.
            return try start(recorded: TrainingInvocation.recorded(tokens))
        }
        let original = try Self.parse(stored)
        let merged = try Self.parse(stored + tokens)
        let before = try Definition.networkDefinition(original.recipe), after = try Definition.networkDefinition(merged.recipe)
        let changed = zip(before, after).filter { $0.value != $1.value }
        if !changed.isEmpty {
            let was = changed.map { "\($0.0.option) \($0.0.value)" }.joined(separator: " ")
            let now = changed.map { "\($0.1.option) \($0.1.value)" }.joined(separator: " ")
            throw CommandFailure("cannot continue \(session.directory.path): the run was started with \(was), this command asks for "
                                 + "\(now); drop those options to continue it, or start another run (another --name, or --overwrite)")
        }
        try merged.start(recorded: TrainingInvocation.recorded(stored + tokens))
    }

    /// Builds the recipe and trains, recording `recorded` in the state.
    func start(recorded: [String]) throws {
        session.applyThreads()
        var training = try session.trainingOptions(defaults: Definition.defaults(recipe))
        if let arguments = try? JSONEncoder().encode(recorded) {
            training.runMetadata = ["command": "stylize train \(Definition.commandName)", "arguments": String(decoding: arguments, as: UTF8.self)]
        }
        training.stopRequested = { StopSignals.shared.requested }
        // Under mpirun: data-parallel over the job's ranks (each takes --batch-size images of every step).
        let parallel = try Communicator.world().map(DataParallel.init)
        let prepared = try Definition.prepare(recipe, data: data, training: training)
        let trainer = try Trainer(recipe: prepared.recipe, options: training, dataset: prepared.dataset, parallel: parallel)
        if session.resume { try trainer.resume() }
        if trainer.isWriter {
            let modules = prepared.recipe.modules
            let parameters = modules.keys.sorted().map { "\($0) \(modules[$0]!.parameterCount)" }.joined(separator: ", ")
            print("\(prepared.summary); parameters: \(parameters)")
            if let parallel {
                print("data-parallel over \(parallel.size) MPI ranks, \(training.batchSize) image(s) each per step "
                      + "(\(training.batchSize * parallel.size) per step in all), \(Parallel.threadCount) thread(s) per rank")
            }
            print("writing \(trainer.directory.path) (page: \(trainer.page.pageURL.path))"
                  + (session.resume ? "; continuing at iteration \(trainer.iterations)" : ""))
            fflush(nil)
        }
        StopSignals.shared.install()
        do {
            try trainer.run()
        } catch TrainingError.interrupted(let signal, _) {
            throw ExitCode(128 + signal)
        }
    }
}

/// The options a run records in its state: everything but those that only steer this session.
enum TrainingInvocation {
    /// Options that steer one session (`--max-iters 100`), with whether they take a value.
    static let sessionOptions: [String: Bool] = [
        "--continue": false, "--overwrite": false, "--quiet": false, "--max-iters": true, "--max-minutes": true, "--threads": true,
    ]

    /// `tokens` without the session options (and their values).
    static func recorded(_ tokens: [String]) -> [String] {
        var kept: [String] = []
        var index = 0
        while index < tokens.count {
            let token = tokens[index]
            let name = token.split(separator: "=", maxSplits: 1).first.map(String.init) ?? token
            if let takesValue = sessionOptions[name] {
                index += takesValue && !token.contains("=") ? 2 : 1
                continue
            }
            kept.append(token)
            index += 1
        }
        return kept
    }
}
