import _TestSupport
import Foundation
import Models
import Pipelines
import NN
import Tensor
import XCTest

/// The published LDM super-resolution model's classes (diffusers UNet2DModel, VQModel, DDIM) against diffusers on a
/// tiny random-weight model of the same layout (`tools/make_ldm_sr_fixtures.py`).
final class LDMSuperResolutionTests: XCTestCase {
    let folder = fixturesDirectory.appendingPathComponent("ldm_sr_tiny")

    func fixture() throws -> (tensors: [String: Tensor], timesteps: [Int]) {
        let archive = try Safetensors.read(contentsOf: fixturesDirectory.appendingPathComponent("ldm_sr.safetensors"))
        let timesteps = (archive.metadata["timesteps"] ?? "").split(separator: ",").compactMap { Int($0) }
        return (archive.dictionary, timesteps)
    }

    /// The UNet's first prediction, the VQ encoder, and the whole loop (4 DDIM steps, η 1 with diffusers' step noises
    /// injected, and η 0, which the fixture script checked against LDMSuperResolutionPipeline): latents and decoded
    /// image within 1e-4 of diffusers'. The decoded image is robust to rounding elsewhere because the fixture keeps every
    /// latent's nearest VQ code ≥ 0.05 (squared distance) ahead of the next, where 1e-4 in the latents moves a distance
    /// by at most 0.008 — checked here from the file's metadata.
    func testTinyModelMatchesDiffusers() throws {
        let model = try LDMSuperResolutionModel.load(from: folder)
        let (tensors, timesteps) = try fixture()
        let image = tensors["image"]!, noise = tensors["noise"]!, stepNoises = tensors["step_noises"]!
        XCTAssertEqual(model.factor, 4)
        let archive = try Safetensors.read(contentsOf: fixturesDirectory.appendingPathComponent("ldm_sr.safetensors"))
        XCTAssertGreaterThanOrEqual(Double(archive.metadata["quantisation_margin"] ?? "") ?? 0, 0.05)
        XCTAssertEqual(model.sampler(steps: 4, eta: 1).timesteps, timesteps)
        let first = withoutGradient { model.unet.forward(Tensor.concatenated([noise, image], axis: 1), timestep: timesteps[0]) }
        assertClose(first, tensors["first_prediction"]!, absolute: 1e-4, "first UNet prediction")
        assertClose(withoutGradient { model.vqvae.encode(image) }, tensors["encoded"]!, absolute: 1e-4, "VQ encoder")
        // 136×136: the middle attention over 34² positions runs in query chunks.
        assertClose(withoutGradient { model.vqvae.encode(tensors["large_image"]!) }, tensors["large_encoded"]!, absolute: 1e-4,
                    "VQ encoder, chunked attention")
        for (eta, tag) in [(1.0, "eta1"), (0.0, "eta0")] {
            let result = model.upscale(image, noise: noise, steps: 4, eta: eta) { stepNoises.sliced(axis: 0, $0..<($0 + 1)).reshaped([1, 3, 32, 32]) }
            assertClose(result.latents, tensors["latents_" + tag]!, absolute: 1e-4, "latents, \(tag)")
            XCTAssertEqual(result.image.shape, [1, 3, 128, 128])
            assertClose(result.image, tensors["decoded_" + tag]!, absolute: 1e-4, "decoded image, \(tag)")
        }
    }

    /// Latents larger than a tile are denoised in blended tiles at every step and decoded in tiles: the output has the
    /// whole image's size and finite values, and a tiling that covers the image gives exactly the untiled result.
    func testTiledSampling() throws {
        let model = try LDMSuperResolutionModel.load(from: folder)
        let random = RandomGenerator(seed: 4)
        let image = Tensor.randomUniform([1, 3, 64, 96], low: -1, high: 1, generator: random)
        let noise = Tensor.randomNormal([1, 3, 64, 96], generator: random)
        let stepNoise = { (_: Int) in Tensor.zeros([1, 3, 64, 96]) }
        let whole = model.upscale(image, noise: noise, steps: 2, eta: 0, stepNoise: stepNoise)
        let covering = model.upscale(image, noise: noise, steps: 2, eta: 0, tiling: LatentTiling(side: 96, overlap: 16), stepNoise: stepNoise)
        XCTAssertEqual(covering.image.scalars, whole.image.scalars)
        var calls = 0
        let tiled = model.upscale(image, noise: noise, steps: 2, eta: 0, tiling: LatentTiling(side: 32, overlap: 8), stepNoise: stepNoise,
                                  progress: { done, total in calls += 1; XCTAssertLessThanOrEqual(done, total) })
        XCTAssertEqual(tiled.image.shape, [1, 3, 256, 384])
        XCTAssertTrue(tiled.image.scalars.allSatisfy { $0.isFinite && abs($0) <= 1 })
        // 2 rows × 4 columns of UNet tiles (side 32, stride 24, aligned to 8) per step, then the decoder's tiles.
        XCTAssertGreaterThan(calls, 2 * 8)
    }

    /// Built from the published configuration, the networks have diffusers' parameter counts exactly
    /// (`sum(p.numel())` of diffusers' UNet2DModel and VQModel with the same arguments).
    func testPublishedConfigurationHasDiffusersParameterCounts() {
        XCTAssertEqual(DiffusersUNet(configuration: .compVisSuperResolution, generator: RandomGenerator(seed: 0)).parameterCount, 113_622_563)
        XCTAssertEqual(DiffusersVQModel(configuration: .compVisSuperResolution, generator: RandomGenerator(seed: 0)).parameterCount, 55_322_782)
    }

    /// Older files: `.bin` (torch.save) weights with the old attention names (query/key/value/proj_attn), the VQ model
    /// in float16 — the same weights as the safetensors folder (the float16 ones within their rounding).
    func testOldBinFilesWithOldAttentionNamesLoad() throws {
        let current = try LDMSuperResolutionModel.load(from: folder)
        let old = try LDMSuperResolutionModel.load(from: fixturesDirectory.appendingPathComponent("ldm_sr_tiny_bin"))
        for (a, b) in zip(current.unet.stateDictionary(), old.unet.stateDictionary()) {
            XCTAssertEqual(a.name, b.name)
            XCTAssertEqual(a.tensor.scalars, b.tensor.scalars, a.name)
        }
        for (a, b) in zip(current.vqvae.stateDictionary(), old.vqvae.stateDictionary()) {
            XCTAssertEqual(maximumDifference(a.tensor, b.tensor), 0, accuracy: 2e-3 * max(1, a.tensor.scalars.map(abs).max() ?? 0), a.name)
        }
    }

    /// A folder with a missing component, a missing or misshapen key, or a configuration this toolkit does not run is
    /// refused with a message naming the file and what is wrong.
    func testBrokenFoldersAreRefusedByName() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        func copy(_ name: String) throws -> URL {
            let target = root.appendingPathComponent(name)
            try FileManager.default.copyItem(at: folder, to: target)
            return target
        }
        func message(_ url: URL) -> String {
            do { _ = try LDMSuperResolutionModel.load(from: url); return "loaded" } catch { return "\(error)" }
        }
        let noUNet = try copy("no-unet")
        try FileManager.default.removeItem(at: noUNet.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"))
        XCTAssertTrue(message(noUNet).contains("unet/diffusion_pytorch_model.safetensors (or .bin): missing"), message(noUNet))

        let noScheduler = try copy("no-scheduler")
        try FileManager.default.removeItem(at: noScheduler.appendingPathComponent("scheduler/scheduler_config.json"))
        XCTAssertTrue(message(noScheduler).contains("scheduler/scheduler_config.json: missing"), message(noScheduler))

        let missingKey = try copy("missing-key")
        let weights = missingKey.appendingPathComponent("vqvae/diffusion_pytorch_model.safetensors")
        var tensors = try Safetensors.read(contentsOf: weights).tensors
        tensors.removeAll { $0.name == "decoder.conv_out.bias" }
        if let index = tensors.firstIndex(where: { $0.name == "quant_conv.weight" }) {
            tensors[index].tensor = Tensor.zeros([3, 3, 3, 3])
        }
        try Safetensors.write(SafetensorsArchive(tensors: tensors), to: weights)
        let text = message(missingKey)
        XCTAssertTrue(text.contains("vqvae/diffusion_pytorch_model.safetensors") && text.contains("decoder.conv_out.bias"), text)

        let unsupported = try copy("unsupported")
        let config = unsupported.appendingPathComponent("unet/config.json")
        let json = try String(contentsOf: config, encoding: .utf8).replacingOccurrences(of: "\"AttnDownBlock2D\"", with: "\"CrossAttnDownBlock2D\"")
        try json.write(to: config, atomically: true, encoding: .utf8)
        XCTAssertTrue(message(unsupported).contains("unet/config.json: down block CrossAttnDownBlock2D is not supported"), message(unsupported))
        XCTAssertFalse(LDMSuperResolutionModel.isDiffusersFolder(root))
        XCTAssertTrue(LDMSuperResolutionModel.isDiffusersFolder(folder))
    }
}
