// Package awsconfig loads the AWS SDK configuration every snaplake binary uses,
// so that AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> let any local stand-in serve.
package awsconfig

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Load returns the default SDK configuration. The SDK itself resolves
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (for example AWS_ENDPOINT_URL_S3);
// Load only adds context to the error.
func Load(ctx context.Context, optFns ...func(*config.LoadOptions) error) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx, optFns...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// CustomS3Endpoint reports whether a custom S3 endpoint is configured through the
// standard variables. S3-compatible servers rarely support virtual-hosted buckets,
// so a custom endpoint means path-style addressing.
func CustomS3Endpoint() bool {
	return os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
}

// NewS3 returns an S3 client from cfg that uses path-style addressing whenever a
// custom endpoint is set (by variable or by cfg.BaseEndpoint).
func NewS3(cfg aws.Config, optFns ...func(*s3.Options)) *s3.Client {
	pathStyle := CustomS3Endpoint() || cfg.BaseEndpoint != nil
	opts := append([]func(*s3.Options){func(o *s3.Options) {
		if pathStyle || o.BaseEndpoint != nil {
			o.UsePathStyle = true
		}
	}}, optFns...)
	return s3.NewFromConfig(cfg, opts...)
}
