import ArgumentParser
import Datasets
import Foundation
import ImageIO

/// `stylize eval REFERENCE_DIR OUTPUT_DIR`: PSNR and SSIM of outputs against references with the same names.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Compare images with references of the same name: PSNR and SSIM per image and on average.",
        discussion: """
        Images are matched by relative path without extension (photo.png ↔ photo.jpg). Both are compared as \
        8-bit RGB at the reference's size (an output of another size is an error for that image). SSIM uses an \
        11×11 Gaussian window (σ 1.5) on each channel, averaged. --json prints one JSON object.
        """
    )

    @Argument(help: "Folder of reference images (ground truth).") var reference: String
    @Argument(help: "Folder of images to score.") var output: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let references: [String: URL], outputs: [String: URL]
        do {
            references = try ImageFolder.keyedByName(URL(fileURLWithPath: reference))
            outputs = try ImageFolder.keyedByName(URL(fileURLWithPath: output))
        } catch { throw ValidationError("\(error)") }
        var rows: [[String: Any]] = []
        var failures: [String] = []
        for name in outputs.keys.sorted() {
            guard let referenceURL = references[name] else { failures.append("\(name): no reference image"); continue }
            do {
                let truth = try Image.read(contentsOf: referenceURL).rgb().converted(toBitDepth: 8)
                let result = try Image.read(contentsOf: outputs[name]!).rgb().converted(toBitDepth: 8)
                guard truth.width == result.width, truth.height == result.height else {
                    failures.append("\(name): size \(result.width)x\(result.height), reference \(truth.width)x\(truth.height)")
                    continue
                }
                rows.append(["name": name, "psnr": ImageMetrics.psnr(truth, result), "ssim": ImageMetrics.ssim(truth, result)])
            } catch {
                failures.append("\(error)")
            }
        }
        // Identical images have an infinite PSNR: reported as such (null in JSON) and left out of the mean.
        let finite = rows.map { $0["psnr"] as! Double }.filter(\.isFinite)
        let meanPSNR = finite.reduce(0, +) / Double(max(finite.count, 1))
        let meanSSIM = rows.map { $0["ssim"] as! Double }.reduce(0, +) / Double(max(rows.count, 1))
        if json {
            let encoded = rows.map { row -> [String: Any] in
                var copy = row
                if !(row["psnr"] as! Double).isFinite { copy["psnr"] = NSNull() }
                return copy
            }
            let object: [String: Any] = ["images": encoded, "mean_psnr": meanPSNR, "mean_ssim": meanSSIM,
                                         "identical": rows.count - finite.count, "failed": failures]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            for row in rows {
                let psnr = row["psnr"] as! Double
                let value = psnr.isFinite ? String(format: "%8.2f dB", psnr) : "identical"
                print(String(format: "%@  SSIM %.4f  %@", value, row["ssim"] as! Double, row["name"] as! String))
            }
            let note = finite.count < rows.count ? " (PSNR over the \(finite.count) non-identical)" : ""
            print(String(format: "mean over %d images: PSNR %.2f dB, SSIM %.4f%@", rows.count, meanPSNR, meanSSIM, note))
            for failure in failures { FileHandle.standardError.write(Data("failed: \(failure)\n".utf8)) }
        }
        if !failures.isEmpty { throw ExitCode(1) }
    }
}
