import ArgumentParser
import Foundation
import Training

/// `stylize train RECIPE`: one subcommand per registered recipe.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train from image folders: CycleGAN, pix2pix, colorization (diffusion or GAN), the latent-diffusion VAE and ×4 SR.",
        discussion: """
        Every recipe writes CHECKPOINTS_DIR/NAME/: latest_net_*.safetensors (usable as --model) and per-epoch \
        snapshots, latest_state.safetensors (all networks, optimiser moments, counters, random state and the options \
        the run started with: --continue resumes exactly), loss_log.jsonl, loss_curve.png and web/index.html with the \
        images of each epoch. An existing run is refused unless --continue or --overwrite. Ctrl-C or SIGTERM saves the \
        state and stops. --max-iters / --max-minutes bound a run. `stylize train RECIPE --help` shows a recipe's options.

        Examples:
          stylize train cyclegan --dataroot datasets/horse2zebra --name horse2zebra
          stylize train pix2pix --dataroot datasets/facades --name facades --direction BtoA
          stylize train colorize --method gan --dataroot photos --name colorize --max-minutes 60
          stylize train cyclegan --name horse2zebra --continue
        """,
        // The recipes: one line each (see CONTRIBUTING.md).
        subcommands: [
            TrainRecipeCommand<CycleGANRecipe>.self,
            TrainRecipeCommand<Pix2PixRecipe>.self,
            TrainRecipeCommand<CUTDefinition>.self,
            TrainRecipeCommand<FastCUTDefinition>.self,
            TrainRecipeCommand<ColorizeDefinition>.self,
            TrainRecipeCommand<AutoencoderRecipe>.self,
            TrainRecipeCommand<SuperResolutionDefinition>.self,
            RenamedColorization.self,
        ]
    )

    /// `train colorization` became `train colorize --method gan`.
    struct RenamedColorization: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "colorization", shouldDisplay: false)
        @Argument(parsing: .allUnrecognized) var rest: [String] = []
        func run() throws {
            throw ValidationError("`stylize train colorization` is now `stylize train colorize --method gan` (the same pix2pix colorizer)")
        }
    }
}
