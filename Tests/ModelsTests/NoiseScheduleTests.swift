import _TestSupport
import Foundation
import Models
import NN
import Tensor
import XCTest

/// Schedules and DDIM steps against huggingface diffusers' DDIMScheduler (`tools/make_schedule_fixtures.py`).
final class NoiseScheduleTests: XCTestCase {
    static let kinds: [(NoiseSchedule.Kind, String, Double, Double)] = [
        (.linear, "linear", 1e-4, 2e-2), (.scaledLinear, "scaled_linear", 0.00085, 0.012), (.cosine, "squaredcos_cap_v2", 0.00085, 0.012),
    ]

    func archive() throws -> (SafetensorsArchive, [String: Any]) {
        let archive = try Safetensors.read(contentsOf: fixturesDirectory.appendingPathComponent("ddim.safetensors"))
        let options = try JSONSerialization.jsonObject(with: Data(archive.metadata["options"]!.utf8)) as! [String: Any]
        return (archive, options)
    }

    func assertClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float, _ label: String) {
        XCTAssertEqual(actual.shape, expected.shape, label)
        let difference = withoutGradient { (actual - expected).abs().max().item }
        XCTAssertLessThan(difference, tolerance, label)
    }

    /// ᾱ for all three schedules and the 50 DDIM timesteps.
    func testCumulativeAlphasAndTimesteps() throws {
        let (archive, _) = try archive()
        for (kind, name, start, end) in Self.kinds {
            let schedule = NoiseSchedule(kind: kind, betaStart: start, betaEnd: end)
            let expected = try archive.tensor("\(name).alphas_cumprod")
            for index in stride(from: 0, to: 1000, by: 1) {
                let reference = Double(expected.pointer[index])
                XCTAssertEqual(schedule.alphasCumulative[index], reference, accuracy: 2e-5 * max(reference, 1e-3), "\(name) ᾱ[\(index)]")
            }
            let timesteps = try archive.tensor("\(name).timesteps")
            XCTAssertEqual(schedule.samplingTimesteps(steps: 50), (0..<50).map { Int(timesteps.pointer[$0]) }, name)
        }
    }

    /// Single DDIM steps (ε and v prediction, η 0, ½ and 1, the last step) and the training-side noising and velocity.
    func testDDIMStepsNoisingAndVelocity() throws {
        let (archive, options) = try archive()
        for (kind, name, start, end) in Self.kinds {
            let schedule = NoiseSchedule(kind: kind, betaStart: start, betaEnd: end)
            for (prediction, label) in [(DiffusionPrediction.epsilon, "epsilon"), (.velocity, "v_prediction")] {
                for index in 0..<4 {
                    let key = "\(name).\(label).step\(index)"
                    let settings = options[key] as! [String: Any]
                    let sampler = DDIMSampler(schedule: schedule, steps: 50, eta: (settings["eta"] as! NSNumber).doubleValue,
                                              prediction: prediction)
                    let result = sampler.step(output: try archive.tensor(key + ".output"), timestep: settings["timestep"] as! Int,
                                              sample: try archive.tensor(key + ".sample"), noise: try archive.tensor(key + ".noise"))
                    assertClose(result.previous, try archive.tensor(key + ".previous"), tolerance: 2e-4, key + " previous")
                    assertClose(result.original, try archive.tensor(key + ".original"), tolerance: 2e-3, key + " original")
                }
            }
            let clean = try archive.tensor("\(name).clean"), noise = try archive.tensor("\(name).noise")
            assertClose(schedule.noised(clean, noise: noise, timesteps: [0, 499, 999]), try archive.tensor("\(name).noised"),
                        tolerance: 1e-5, "\(name) noised")
            assertClose(schedule.target(.velocity, clean: clean, noise: noise, timesteps: [0, 499, 999]),
                        try archive.tensor("\(name).velocity"), tolerance: 1e-5, "\(name) velocity")
        }
    }

    /// With an oracle that knows the clean sample, deterministic DDIM from pure noise lands on it.
    func testDDIMWithAnOracleRecoversTheCleanSample() {
        let schedule = NoiseSchedule(kind: .scaledLinear)
        let clean = Tensor.randomUniform([1, 2, 3, 3], low: -1, high: 1, generator: RandomGenerator(seed: 1))
        var sample = Tensor.randomNormal([1, 2, 3, 3], generator: RandomGenerator(seed: 2))
        for prediction in DiffusionPrediction.allCases {
            let sampler = DDIMSampler(schedule: schedule, steps: 20, prediction: prediction)
            var current = sample
            for timestep in sampler.timesteps {
                // The exact prediction for x_t given the clean sample.
                let alpha = Float(schedule.alphasCumulative[timestep])
                let epsilon = (current - clean * alpha.squareRoot()) * (1 / (1 - alpha).squareRoot())
                let output = prediction == .epsilon ? epsilon : epsilon * alpha.squareRoot() - clean * (1 - alpha).squareRoot()
                current = sampler.step(output: output, timestep: timestep, sample: current).previous
            }
            // The last step lands on √ᾱ₀·x₀ + √(1 − ᾱ₀)·ε, ᾱ₀ = 1 − β₀.
            let alphaZero = Float(schedule.alphasCumulative[0])
            XCTAssertLessThan(withoutGradient { (current - clean * alphaZero.squareRoot()).abs().max().item }, 0.2, "\(prediction)")
            sample = Tensor.randomNormal([1, 2, 3, 3], generator: RandomGenerator(seed: 3))
        }
    }
}
