import ArgumentParser
import Distributed
import Console
import Foundation
import ModelHub
import SafeFiles

/// The `stylize` root command.
public struct Stylize: ParsableCommand {
    public static let version = "0.2.0"

    public static let configuration = CommandConfiguration(
        commandName: "stylize",
        abstract: "Image-to-image translation on the CPU: CycleGAN, pix2pix and latent diffusion.",
        discussion: """
        stylize runs and trains image-translation networks natively, with no Python. Without a command, it runs \
        `apply`: each input image gives one output of the same name and size in OUTPUT; your originals are never \
        replaced, outputs are written whole or not at all, and a rerun skips what is done.

        Examples:
          stylize --model photo2monet photos/ out/   # photo → Monet (bundled)
          stylize upscale small/ big/                # ×4 super-resolution
          stylize colorize old-photos/ colored/      # colorize, lightness kept
          stylize --model style_monet photos/ out/   # official, downloaded once
          stylize train cyclegan --dataroot datasets/horse2zebra --name h2z
          stylize models list                        # every model name

        \(bundledModelsLine())
        Set STYLIZE_THREADS to change the number of worker threads (default: all cores), STYLIZE_MODELS_DIR to use \
        another models folder. `stylize help COMMAND` explains a command.
        """,
        version: version,
        subcommands: [Apply.self, Train.self, TestCommand.self, Upscale.self, ColorizeCommand.self, Evaluate.self, ModelsCommand.self, Combine.self, Bench.self],
        defaultSubcommand: Apply.self
    )

    public init() {}

    /// "Bundled models: photo2monet (resnet_9blocks ngf 32), …" from the registry, when it can be found.
    static func bundledModelsLine() -> String {
        guard let registry = try? ModelRegistry.locate() else { return "" }
        let bundled = registry.entries.filter { $0.file != nil }.map { "\($0.name) (\($0.summary))" }
        return bundled.isEmpty ? "" : "Bundled models: " + bundled.joined(separator: ", ") + ".\n"
    }

    /// Parses and runs `arguments` and exits: 0 on success, 64 for a usage error (with the usage), 1 for a failure at
    /// run time, 128 + N after signal N. Every error is one "Error: …" line in plain words.
    public static func launch(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        do {
            try checkCommandName(arguments)
            var command = try parseAsRoot(arguments)
            try command.run()
            Communicator.joined?.finalize()
            exit()
        } catch {
            // Under mpirun, an error on one rank would leave the others waiting in a collective: end the job.
            if let job = Communicator.joined, job.size > 1, !(error is ExitCode) {
                FileHandle.standardError.write(Data("Error (rank \(job.rank) of \(job.size)): \(presentable(error))\n".utf8))
                job.abort(code: 1)
            }
            Communicator.joined?.finalize()
            exit(withError: presentable(error))
        }
    }

    /// The subcommands' names.
    static var commandNames: [String] {
        configuration.subcommands.map { $0.configuration.commandName ?? String(describing: $0).lowercased() } + ["help"]
    }

    /// Catches a mistyped command (`stylize colourise …`), which would otherwise read as `apply` with a missing
    /// `--model`: a first word that is no command, no existing path and looks like a command name.
    static func checkCommandName(_ arguments: [String]) throws {
        guard let first = arguments.first, !first.hasPrefix("-"), !commandNames.contains(first),
              !first.contains("/"), !first.contains("."), !FileManager.default.fileExists(atPath: first) else { return }
        let names = commandNames.filter { $0 != "help" }
        let closest = names.map { ($0, editDistance(first.lowercased(), $0)) }.min { $0.1 < $1.1 }
        if let closest, closest.1 <= max(2, first.count / 3) {
            throw ValidationError("unknown command '\(first)'; did you mean '\(closest.0)'? (commands: \(names.joined(separator: ", ")))")
        }
        if !arguments.contains(where: { $0 == "--model" || $0.hasPrefix("--model=") }) {
            throw ValidationError("'\(first)' is neither a command nor an existing file or folder (commands: \(names.joined(separator: ", ")); "
                                  + "to translate images: stylize --model NAME INPUT... OUTPUT)")
        }
    }

    /// Foundation's file and network errors as plain sentences; everything else as it is.
    static func presentable(_ error: Error) -> Error {
        let nsError = error as NSError
        guard [NSCocoaErrorDomain, NSPOSIXErrorDomain, NSURLErrorDomain].contains(nsError.domain) else { return error }
        let path = (nsError.userInfo[NSFilePathErrorKey] as? String) ?? (nsError.userInfo[NSURLErrorFailingURLErrorKey] as? URL)?.absoluteString
        let sentence = FileProblem.sentence(for: error)
        return CommandFailure(path.map { "\($0): \(sentence)" } ?? sentence)
    }
}
