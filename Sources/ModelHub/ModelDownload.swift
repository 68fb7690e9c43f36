import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Why a download failed, in plain words (never a raw `NSURLError` dump).
public struct DownloadFailure: Error, CustomStringConvertible, Sendable {
    public let reason: String
    /// The server answered with this HTTP status (nil: no answer at all).
    public let status: Int?
    public var description: String { reason }

    /// A sentence for a transport error.
    static func describing(_ error: Error, host: String) -> DownloadFailure {
        let code = (error as NSError).domain == NSURLErrorDomain ? (error as NSError).code : 0
        let reason: String
        switch code {
        case NSURLErrorNotConnectedToInternet: reason = "this machine has no network connection"
        case NSURLErrorCannotFindHost, NSURLErrorDNSLookupFailed: reason = "cannot find the server \(host) (no network, or a wrong address)"
        case NSURLErrorCannotConnectToHost: reason = "the server \(host) refused the connection"
        case NSURLErrorTimedOut: reason = "the server \(host) did not answer in time"
        case NSURLErrorNetworkConnectionLost: reason = "the connection to \(host) was lost"
        case NSURLErrorSecureConnectionFailed, NSURLErrorServerCertificateUntrusted, NSURLErrorServerCertificateHasBadDate,
             NSURLErrorServerCertificateNotYetValid, NSURLErrorServerCertificateHasUnknownRoot:
            reason = "no secure (HTTPS) connection to \(host)"
        default: reason = (error as NSError).localizedDescription
        }
        return DownloadFailure(reason: reason, status: nil)
    }
}

/// Synchronous HTTP(S) GET for model weights.
enum ModelDownload {
    /// GETs `url`; an `http://` address on a non-loopback host is tried as `https://` first, falling back to plain
    /// HTTP only when no secure connection can be made. Returns the data and the address that served it.
    static func get(_ url: URL, progress: (String) -> Void) throws -> (Data, URL) {
        let host = url.host ?? ""
        if url.scheme == "http", !["127.0.0.1", "localhost", "::1"].contains(host),
           var components = URLComponents(url: url, resolvingAgainstBaseURL: false) {
            components.scheme = "https"
            if let secure = components.url {
                do {
                    return (try get(secure), secure)
                } catch let failure as DownloadFailure where failure.status == nil {
                    progress("no HTTPS at \(host) (\(failure.reason)); using plain HTTP, checked by loading the weights")
                }
            }
        }
        return (try get(url), url)
    }

    /// One GET of `url` (60 s timeout for the first byte).
    static func get(_ url: URL) throws -> Data {
        final class Box: @unchecked Sendable { var result: Result<Data, Error> = .failure(URLError(.unknown)) }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        var request = URLRequest(url: url)
        request.timeoutInterval = 60
        let host = url.host ?? url.absoluteString
        let task = URLSession.shared.dataTask(with: request) { data, response, error in
            if let error {
                box.result = .failure(DownloadFailure.describing(error, host: host))
            } else if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
                box.result = .failure(DownloadFailure(reason: "the server answered HTTP \(http.statusCode)"
                                                      + (http.statusCode == 404 ? " (not found)" : ""), status: http.statusCode))
            } else {
                box.result = .success(data ?? Data())
            }
            done.signal()
        }
        task.resume()
        done.wait()
        return try box.result.get()
    }
}
