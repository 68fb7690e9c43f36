import _TestSupport
import Foundation
import Models
import NN
import Tensor
import Training
import XCTest

/// Against PyTorch (`tools/make_gan_fixtures.py`, `Tests/Fixtures/gan.safetensors`): CUT's anti-aliased generator
/// loaded from the reference's state-dict keys, PatchNCE, and the second-order gradients of WGAN-GP's and R1's
/// penalties in a critic's weights.
final class GANParityTests: XCTestCase {
    var archive: SafetensorsArchive!

    override func setUpWithError() throws {
        archive = try Safetensors.read(contentsOf: fixturesDirectory.appendingPathComponent("gan.safetensors"))
    }

    func tensor(_ name: String) throws -> Tensor { try archive.tensor(name, path: "gan.safetensors").copied() }

    func state(_ prefix: String) throws -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: archive.tensors.filter { $0.name.hasPrefix(prefix) }
            .map { (String($0.name.dropFirst(prefix.count)), $0.tensor.copied()) })
    }

    func testCUTGeneratorLoadsTheReferenceKeysAndMatches() throws {
        let generator = AntialiasedResnetGenerator(filters: 4, blocks: 2)
        try generator.load(stateDictionary: try state("cut.state."), strict: true)
        generator.eval()
        let input = try tensor("cut.input")
        XCTAssertLessThan(maximumDifference(withoutGradient { generator(input) }, try tensor("cut.output")), 1e-4)
        let features = withoutGradient { generator.features(input, at: [0, 4, 8, 12]) }
        for (index, layer) in [0, 4, 8, 12].enumerated() {
            XCTAssertLessThan(maximumDifference(features[index], try tensor("cut.feature\(layer)")), 1e-4, "layer \(layer)")
        }
    }

    func testPatchNCEMatches() throws {
        let queries = try tensor("nce.queries")
        queries.requiresGrad = true
        let loss = patchNCELoss(queries: queries, keys: try tensor("nce.keys"), batch: 2, temperature: 0.07)
        XCTAssertEqual(loss.item, try tensor("nce.loss").scalars[0], accuracy: 1e-4)
        loss.backward()
        XCTAssertLessThan(maximumDifference(queries.grad!, try tensor("nce.grad_queries")), 1e-5)
    }

    func critic() throws -> Sequential {
        let network = Sequential([Conv2d(inputChannels: 3, outputChannels: 4, kernelSize: 4, stride: 2, padding: 1),
                                  Activation(.leakyReLU(negativeSlope: 0.2)),
                                  Conv2d(inputChannels: 4, outputChannels: 8, kernelSize: 4, stride: 1, padding: 1),
                                  InstanceNorm2d(channels: 8), Activation(.leakyReLU(negativeSlope: 0.2)),
                                  Conv2d(inputChannels: 8, outputChannels: 1, kernelSize: 3)])
        try network.load(stateDictionary: try state("gp.state."), strict: true)
        return network
    }

    /// Every weight's gradient against `<prefix>.grad.<name>`, relative to the largest expected entry (at least 1).
    func checkWeightGradients(of network: Module, prefix: String) throws {
        for (name, parameter) in network.namedParameters() {
            let expected = try tensor("\(prefix).grad.\(name)")
            let scale = max(1, expected.scalars.map { abs($0) }.max() ?? 1)
            XCTAssertLessThan(maximumDifference(parameter.grad ?? Tensor.zeros(parameter.shape), expected) / scale, 1e-4, "\(prefix) \(name)")
        }
    }

    /// The penalties and their gradients in every weight (through the gradient of the critic: second order).
    func testGradientPenaltiesMatch() throws {
        let wgan = try critic()
        let (real, fake) = (try tensor("gp.real"), try tensor("gp.fake"))
        let penalty = gradientPenalty(wgan, real: real, fake: fake, random: RandomGenerator(seed: 0), lambda: 10,
                                      alpha: try tensor("gp.alpha").reshaped([2, 1, 1, 1])).loss
        XCTAssertEqual(penalty.item, try tensor("gp.penalty").scalars[0], accuracy: 1e-4 * max(1, abs(penalty.item)))
        penalty.backward()
        try checkWeightGradients(of: wgan, prefix: "gp")
        let r1Critic = try critic()
        let r1 = r1Penalty(r1Critic, real: real, gamma: 2).loss
        XCTAssertEqual(r1.item, try tensor("r1.penalty").scalars[0], accuracy: 1e-4 * max(1, abs(r1.item)))
        r1.backward()
        try checkWeightGradients(of: r1Critic, prefix: "r1")
    }
}
