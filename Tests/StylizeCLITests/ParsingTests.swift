import StylizeCLI
import XCTest

/// The command line parsed in-process: choices checked by the parser (with the allowed values in the message),
/// one spelling per idea with the reference's spellings accepted, usage errors before anything runs.
final class ParsingTests: XCTestCase {
    /// The command type `arguments` parse to, or the parser's message.
    func parse(_ arguments: [String]) -> (command: String?, message: String, exitCode: Int32) {
        do {
            let command = try Stylize.parseAsRoot(arguments)
            return (String(describing: type(of: command)), "", 0)
        } catch {
            return (nil, Stylize.message(for: error), Stylize.exitCode(for: error).rawValue)
        }
    }

    func testRecipesAndTheirOptions() {
        XCTAssertEqual(parse(["train", "cyclegan", "--name", "x", "--dataroot", "d"]).command, "TrainRecipeCommand<CycleGANRecipe>")
        XCTAssertEqual(parse(["train", "colorize", "--method", "gan", "--name", "x", "--dataroot", "d"]).command,
                       "TrainRecipeCommand<ColorizeDefinition>")
        // The reference's spellings are accepted; the kebab-case ones are what --help shows.
        XCTAssertNotNil(parse(["train", "pix2pix", "--name", "x", "--dataroot", "d", "--netG", "unet_128", "--netD", "pixel",
                               "--checkpoints", "c"]).command)
        XCTAssertNotNil(parse(["train", "pix2pix", "--name", "x", "--dataroot", "d", "--net-g", "resnet_4blocks", "--n-layers-d", "2"]).command)
        // CUT and FastCUT with their options.
        XCTAssertEqual(parse(["train", "cut", "--name", "x", "--dataroot", "d", "--lambda-nce", "2", "--nce-idt", "false", "--nce-layers", "0,4,8",
                              "--num-patches", "64", "--nce-t", "0.1", "--flip-equivariance", "true", "--netf-nc", "128"]).command,
                       "TrainRecipeCommand<CUTDefinition>")
        XCTAssertEqual(parse(["train", "fastcut", "--name", "x", "--dataroot", "d"]).command, "TrainRecipeCommand<FastCUTDefinition>")
        let layers = parse(["train", "cut", "--name", "x", "--dataroot", "d", "--nce-layers", "8,4"])
        XCTAssertEqual(layers.exitCode, 64)
        XCTAssertTrue(layers.message.contains("--nce-layers"), layers.message)
        // The GAN stabilisers, in each GAN recipe.
        for recipe in [["cyclegan"], ["pix2pix"], ["cut"], ["fastcut"], ["colorize", "--method", "gan"]] {
            XCTAssertNotNil(parse(["train"] + recipe + ["--name", "x", "--dataroot", "d", "--gan-mode", "hinge", "--d-steps", "2",
                                                        "--lr-d", "4e-4", "--ema-g", "0.999"]).command, "\(recipe)")
            XCTAssertNotNil(parse(["train"] + recipe + ["--name", "x", "--dataroot", "d", "--label-smoothing", "0.9"]).command, "\(recipe)")
            XCTAssertNotNil(parse(["train"] + recipe + ["--name", "x", "--dataroot", "d", "--gan-mode", "wgangp", "--lambda-gp", "10", "--r1-gamma", "1",
                                                        "--lambda-feature-matching", "10", "--lambda-historical", "0.01", "--minibatch-std",
                                                        "--spectral-norm"]).command, "\(recipe)")
        }
        // A recipe only takes its own options: the VAE has no --direction or --net-g.
        let vae = parse(["train", "vae", "--name", "x", "--dataroot", "d", "--direction", "BtoA"])
        XCTAssertNil(vae.command)
        XCTAssertTrue(vae.message.contains("Unknown option '--direction'"), vae.message)
        XCTAssertEqual(vae.exitCode, 64)
    }

    func testChoicesListTheirValues() {
        let cases: [([String], String)] = [
            (["train", "cyclegan", "--name", "x", "--dataroot", "d", "--net-g", "resnet"], "resnet_9blocks"),
            (["train", "cyclegan", "--name", "x", "--dataroot", "d", "--norm", "layer"], "'instance', 'batch', 'none' or 'virtual_batch'"),
            (["train", "cyclegan", "--name", "x", "--dataroot", "d", "--preprocess", "zoom"], "'scale_width_and_crop'"),
            (["train", "cyclegan", "--name", "x", "--dataroot", "d", "--lr-policy", "exp"], "'linear', 'step' or 'cosine'"),
            (["train", "cyclegan", "--name", "x", "--dataroot", "d", "--gan-mode", "wgan"], "'vanilla', 'lsgan', 'hinge' or 'wgangp'"),
            (["train", "sr", "--name", "x", "--dataroot", "d", "--stage", "x0"], "'estimator' and 'flow'"),
            (["train", "colorize", "--name", "x", "--dataroot", "d", "--method", "magic"], "'diffusion' and 'gan'"),
            (["in", "out", "--model", "m", "--format", "gif"], "'png' and 'jpg'"),
            (["upscale", "in", "out", "--method", "lanczos"], "'diffusion' and 'bicubic'"),
            (["bench", "--suites", "gpu"], "engine"),
        ]
        for (arguments, expected) in cases {
            let result = parse(arguments)
            XCTAssertNil(result.command, "\(arguments)")
            XCTAssertEqual(result.exitCode, 64, "\(arguments)")
            XCTAssertTrue(result.message.contains(expected), "\(arguments): \(result.message)")
        }
    }

    /// Bad numbers are refused by the parser's validation — the release binary keeps every check.
    func testBadNumbersAreUsageErrors() {
        let cases: [([String], String)] = [
            (["train", "pix2pix", "--name", "x", "--dataroot", "d", "--preprocess", "crop", "--load-size", "16", "--crop-size", "32"], "--crop-size 32 is larger than --load-size 16"),
            (["train", "cyclegan", "--name", "x", "--dataroot", "d", "--batch-size", "0"], "--batch-size"),
            (["train", "cyclegan", "--name", "x", "--dataroot", "d", "--max-minutes", "-1"], "--max-minutes"),
            (["train", "cyclegan", "--name", "x", "--dataroot", "d", "--continue", "--overwrite"], "--continue"),
            (["train", "cyclegan", "--name", "a/b", "--dataroot", "d"], "--name"),
            (["in", "out", "--model", "m", "--quality", "0"], "--quality"),
            (["train", "cyclegan", "--name", "x", "--dataroot", "d", "--label-smoothing", "1.5"], "--label-smoothing"),
            (["train", "pix2pix", "--name", "x", "--dataroot", "d", "--d-steps", "0"], "--d-steps"),
            (["train", "pix2pix", "--name", "x", "--dataroot", "d", "--ema-g", "1"], "--ema-g"),
            (["in", "out", "--model", "m", "--tile-size", "30"], "--tile-size"),
            (["upscale", "in", "out", "--tile-overlap", "300"], "--tile-overlap"),
        ]
        for (arguments, expected) in cases {
            let result = parse(arguments)
            XCTAssertEqual(result.exitCode, 64, "\(arguments): \(result.message)")
            XCTAssertTrue(result.message.contains(expected), "\(arguments): \(result.message)")
        }
    }
}
