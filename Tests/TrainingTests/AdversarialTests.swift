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

    /// A tiny critic on 2-D points ([N, 2, 1, 1], 1×1 convolutions).
    func critic(seed: UInt64, scale: Float) -> Sequential {
        let random = RandomGenerator(seed: seed)
        let network = Sequential([Conv2d(inputChannels: 2, outputChannels: 16, kernelSize: 1, generator: random),
                                  Activation(.leakyReLU(negativeSlope: 0.2)),
                                  Conv2d(inputChannels: 16, outputChannels: 1, kernelSize: 1, generator: random)])
        for parameter in network.parameters { parameter.assign(parameter * scale) }
        return network
    }

    /// WGAN-GP: training the critic on the Wasserstein loss plus the penalty drives its gradient norm on interpolates
    /// towards 1 — from far above (a steep critic) and from far below (a flat one), on several seeds — while the
    /// same training without the penalty lets the norm grow far past it.
    func testGradientPenaltyDrivesTheNormTowardsOne() {
        func train(seed: UInt64, scale: Float, lambda: Float) -> (before: Float, after: Float) {
            let random = RandomGenerator(seed: seed)
            let network = critic(seed: seed, scale: scale)
            let optimizer = Adam(parameters: network.namedParameters(), learningRate: 1e-2, beta1: 0.5)
            func batch(_ centre: Float) -> Tensor {
                Tensor.randomNormal([64, 2, 1, 1], standardDeviation: 0.5, generator: random) + centre
            }
            let before = gradientPenalty(network, real: batch(1), fake: batch(-1), random: random).meanNorm
            for _ in 0..<300 {
                optimizer.zeroGrad()
                let real = batch(1), fake = batch(-1)
                let penalty = gradientPenalty(network, real: real, fake: fake, random: random, lambda: lambda)
                (GANMode.wgangp.discriminatorLoss(network(real), real: true) + GANMode.wgangp.discriminatorLoss(network(fake), real: false)
                    + penalty.loss).backward()
                optimizer.step()
            }
            return (before, gradientPenalty(network, real: batch(1), fake: batch(-1), random: random).meanNorm)
        }
        for (seed, scale) in [(UInt64(1), Float(4)), (2, 4), (3, 0.05)] {
            let penalised = train(seed: seed, scale: scale, lambda: 10), free = train(seed: seed, scale: scale, lambda: 0)
            XCTAssertGreaterThan(abs(penalised.before - 1), 0.9, "seed \(seed): starts away from 1 (\(penalised.before))")
            XCTAssertEqual(penalised.after, 1, accuracy: 0.4, "seed \(seed): \(penalised.before) → \(penalised.after)")
            XCTAssertGreaterThan(free.after, 3, "seed \(seed): without the penalty \(free.before) → \(free.after)")
        }
    }

    /// R1 of a linear critic D(x) = w·x is γ/2·‖w‖² whatever the images, and its gradient in w is γ·w.
    func testR1PenaltyOfALinearCritic() {
        let layer = Conv2d(inputChannels: 3, outputChannels: 1, kernelSize: 1, bias: false)
        layer.weight.assign(Tensor(shape: [1, 3, 1, 1], scalars: [1, -2, 0.5]))
        let real = seededNormal([4, 3, 2, 2], seed: 5)
        let (loss, output) = r1Penalty(layer, real: real, gamma: 2)
        // Each image's gradient is w at each of its 4 positions: ‖∇‖² = 4·‖w‖² = 4·5.25.
        XCTAssertEqual(loss.item, 2 / 2 * 4 * 5.25, accuracy: 1e-4)
        XCTAssertEqual(output.shape, [4, 1, 2, 2])
        loss.backward()
        XCTAssertEqual(layer.weight.grad!.scalars, [8, -16, 4].map { Float($0) })
    }
}
