package relocate

import (
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// NewHTTPClient is the SDK's HTTP client with an idle pool of concurrency
// connections. The SDK default keeps 10 per host, so 64 parallel copies would keep
// opening new connections (and TLS sessions) instead of reusing them.
func NewHTTPClient(concurrency int) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = max(concurrency, 100)
		t.MaxIdleConnsPerHost = max(concurrency, awshttp.DefaultHTTPTransportMaxIdleConnsPerHost)
	})
}
