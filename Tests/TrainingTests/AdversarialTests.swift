import _TestSupport
import Foundation
import NN
import Tensor
import Training
import XCTest

/// The GAN losses of `--gan-mode` and one-sided label smoothing against hand-computed values.
final class AdversarialTests: XCTestCase {
    let outputs = Tensor(shape: [1, 1, 1, 3], scalars: [2, -1, 0])

    func testDiscriminatorAndGeneratorLosses() {
        func softplus(_ x: Float) -> Float { Float(Foundation.log(1 + Foundation.exp(Double(x)))) }
        // vanilla: BCE with logits; real target t: mean(softplus(x) − t·x); the generator's non-saturating softplus(−x).
        XCTAssertEqual(GANMode.vanilla.discriminatorLoss(outputs, real: true).item, (softplus(-2) + softplus(1) + softplus(0)) / 3, accuracy: 1e-6)
        XCTAssertEqual(GANMode.vanilla.discriminatorLoss(outputs, real: false).item, (softplus(2) + softplus(-1) + softplus(0)) / 3, accuracy: 1e-6)
        XCTAssertEqual(GANMode.vanilla.discriminatorLoss(outputs, real: true, realTarget: 0.9).item,
                       ((softplus(2) - 1.8) + (softplus(-1) + 0.9) + softplus(0)) / 3, accuracy: 1e-6)
        XCTAssertEqual(GANMode.vanilla.generatorLoss(outputs).item, (softplus(-2) + softplus(1) + softplus(0)) / 3, accuracy: 1e-6)
        // lsgan: (x − t)², x² on fakes.
        XCTAssertEqual(GANMode.lsgan.discriminatorLoss(outputs, real: true).item, (1 + 4 + 1) / 3, accuracy: 1e-6)
        XCTAssertEqual(GANMode.lsgan.discriminatorLoss(outputs, real: true, realTarget: 0.9).item,
                       (1.1 * 1.1 + 1.9 * 1.9 + 0.81) / 3, accuracy: 1e-6)
        XCTAssertEqual(GANMode.lsgan.discriminatorLoss(outputs, real: false).item, (4 + 1 + 0) / 3, accuracy: 1e-6)
        // hinge: relu(1 − x) on real, relu(1 + x) on fake; the generator's −x.
        XCTAssertEqual(GANMode.hinge.discriminatorLoss(outputs, real: true).item, (0 + 2 + 1) / 3, accuracy: 1e-6)
        XCTAssertEqual(GANMode.hinge.discriminatorLoss(outputs, real: false).item, (3 + 0 + 1) / 3, accuracy: 1e-6)
        XCTAssertEqual(GANMode.hinge.generatorLoss(outputs).item, -1.0 / 3, accuracy: 1e-6)
    }

    /// The hinge loss's gradient is zero where the margin is met and −1/n (real) or 1/n (fake) where it is not.
    func testHingeGradients() {
        let x = Tensor(shape: [3], scalars: [2, -1, 0.5], requiresGrad: true)
        GANMode.hinge.discriminatorLoss(x, real: true).backward()
        XCTAssertEqual(x.grad!.scalars, [0, -1.0 / 3, -1.0 / 3])
    }

    /// Historical averaging: no penalty at the start; after θ moves by 1 from θ̄ the gradient gains 2λ and the
    /// penalty is λ per element; θ̄ then becomes the mean of the two weights seen.
    func testHistoricalAveraging() throws {
        let layer = Linear(inputFeatures: 2, outputFeatures: 1, bias: false)
        layer.weight.assign(Tensor(shape: [1, 2], scalars: [1, 2]))
        let history = HistoricalAverages(lambda: 0.5, networks: [("net", layer)])
        XCTAssertEqual(history.addPenaltyGradients("net"), 0)
        XCTAssertEqual(layer.weight.grad?.scalars, [0, 0])
        layer.weight.grad = nil
        layer.weight.assign(Tensor(shape: [1, 2], scalars: [2, 3]))
        XCTAssertEqual(history.addPenaltyGradients("net")!, 1, accuracy: 1e-6)
        XCTAssertEqual(layer.weight.grad!.scalars, [1, 1])
        history.update()
        XCTAssertEqual(history.buffers()["history.net.weight"]!.scalars, [1.5, 2.5])
        XCTAssertNil(history.addPenaltyGradients("other"))
    }
}
