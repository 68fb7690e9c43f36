import ArgumentParser
import Foundation

/// The `stylize` root command.
public struct Stylize: ParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "stylize",
        abstract: "Image-to-image translation on the CPU: CycleGAN, pix2pix and latent diffusion.",
        discussion: """
        stylize runs and trains image-translation networks natively, with no Python. \
        Set STYLIZE_THREADS to change the number of worker threads (default: all cores).
        """,
        version: version,
        subcommands: [Apply.self, Train.self, TestCommand.self, Upscale.self, ColorizeCommand.self, Evaluate.self, ModelsCommand.self, Combine.self, Bench.self],
        defaultSubcommand: Apply.self
    )

    public init() {}
}
