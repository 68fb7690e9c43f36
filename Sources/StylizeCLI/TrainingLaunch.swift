import ArgumentParser
import Foundation
import NN
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

/// A `stylize train RECIPE` command: how it starts, and which of its options define the networks (a run cannot continue
/// with those changed).
protocol TrainingSubcommand: ParsableCommand {
    /// The recipe's name after `train`.
    static var recipeName: String { get }
    var common: CommonTrainingArguments { get set }
    /// The options that define the networks, with their values as this command resolves them (`--netG`, `resnet_9blocks`).
    func networkDefinition() throws -> [(option: String, value: String)]
    /// Builds the recipe and dataset and trains.
    func start() throws
}

extension TrainingSubcommand {
    /// Fresh runs record their options in the state; `--continue` takes the recorded options, lets the command line
    /// change the others (the schedule, bounds, data options), refuses a change to the networks, and then starts.
    func run() throws {
        let tokens = Invocation.trainingTokens(recipe: Self.recipeName)
        var command = self
        if common.resume {
            let state = URL(fileURLWithPath: common.checkpoints).appendingPathComponent(common.name)
                .appendingPathComponent("latest_state.safetensors")
            guard FileManager.default.fileExists(atPath: state.path) else { throw TrainingError.noState(path: state.path) }
            let metadata = try Safetensors.metadata(contentsOf: state)
            if let text = metadata["run.arguments"], let stored = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) {
                let original = try Self.parse(stored)
                command = try Self.parse(stored + tokens)
                let before = try original.networkDefinition(), after = try command.networkDefinition()
                let changed = zip(before, after).filter { $0.value != $1.value }
                if !changed.isEmpty {
                    let was = changed.map { "\($0.0.option) \($0.0.value)" }.joined(separator: " ")
                    let now = changed.map { "\($0.1.option) \($0.1.value)" }.joined(separator: " ")
                    throw CommandFailure("cannot continue \(state.deletingLastPathComponent().path): the run was started with \(was), "
                                         + "this command asks for \(now); drop those options to continue it, or start another run "
                                         + "(another --name, or --overwrite)")
                }
                command.common.invocation = TrainingInvocation.recorded(stored + tokens)
            } else {
                command.common.invocation = TrainingInvocation.recorded(tokens)
            }
        } else {
            command.common.invocation = TrainingInvocation.recorded(tokens)
        }
        command.common.recipeName = Self.recipeName
        try command.start()
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
