package archive

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// CloudWatchAPI is the one CloudWatch call the RDS lag probe makes; *cloudwatch.Client
// satisfies it. Build the client from internal/aws/awsconfig.Load's configuration:
// the SDK then honours AWS_ENDPOINT_URL_CLOUDWATCH and AWS_ENDPOINT_URL.
type CloudWatchAPI interface {
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// The query RDSReplicaLag sends. RDS publishes ReplicaLag (seconds,
// Seconds_Behind_Master; -1 when replication is not active) once a minute per read
// replica, under its DBInstanceIdentifier.
const (
	rdsNamespace        = "AWS/RDS"
	rdsReplicaLagMetric = "ReplicaLag"
	rdsInstanceDim      = "DBInstanceIdentifier"
	// lagQueryID names the query in GetMetricData's answer (an Id must start with a
	// lowercase letter).
	lagQueryID = "replicalag"
	// lagPeriod is RDS's publishing interval: one datapoint a period.
	lagPeriod = 60 * time.Second
	// LagWindow is how far back the probe looks for the newest datapoint. RDS
	// metrics reach CloudWatch a minute or two late; a replica with no datapoint in
	// five minutes is not reporting, and its lag is unknown.
	LagWindow = 5 * time.Minute
	// lagMaxPages bounds the pages one reading follows: a five-minute window holds
	// five datapoints, so more pages than this mean a token that never ends.
	lagMaxPages = 20
)

// RDSReplicaLag reads an RDS read replica's lag from the CloudWatch metric AWS/RDS
// ReplicaLag: the newest one-minute Maximum in the last LagWindow. It needs no
// database login, so it works where SHOW REPLICA STATUS is refused (RDS for
// MariaDB 10.5 and later), at the price of a reading up to about two minutes old.
type RDSReplicaLag struct {
	CW CloudWatchAPI
	// Instance is the read replica's DB instance identifier.
	Instance string
	// Now is time.Now when nil (tests fix it).
	Now func() time.Time
}

// NoLagDataError says CloudWatch holds no ReplicaLag datapoint for the instance in
// the window. The lag is unknown, so the run waits (PauseLagUnknown) as for any
// probe that cannot read: the instance may not be a read replica (RDS publishes
// ReplicaLag for read replicas only), the identifier or the region may be wrong,
// or the replica may have stopped reporting.
type NoLagDataError struct {
	Instance   string
	Start, End time.Time
}

func (e *NoLagDataError) Error() string {
	return fmt.Sprintf("replica lag: CloudWatch has no %s %s datapoint for %s=%s from %s to %s: check that %q is a read replica in this account and region (RDS publishes ReplicaLag for read replicas only)",
		rdsNamespace, rdsReplicaLagMetric, rdsInstanceDim, e.Instance, e.Start.UTC().Format(time.RFC3339), e.End.UTC().Format(time.RFC3339), e.Instance)
}

// MetricStatusError says CloudWatch answered the query with a status other than
// Complete or PartialData (Forbidden, or InternalError without a token to retry
// with) and no datapoint.
type MetricStatusError struct {
	Instance string
	Status   cwtypes.StatusCode
	Messages []string
}

func (e *MetricStatusError) Error() string {
	return fmt.Sprintf("replica lag: CloudWatch answered %s %s for %s=%s with status %s %v",
		rdsNamespace, rdsReplicaLagMetric, rdsInstanceDim, e.Instance, e.Status, e.Messages)
}

// ReplicaLag returns the newest datapoint's lag; -1 (replication not active) is
// Stopped. Any failure is an error, which the run treats as a reason to wait.
func (p RDSReplicaLag) ReplicaLag(ctx context.Context) (Lag, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	// EndTime is exclusive and StartTime inclusive; both on minute boundaries (as
	// CloudWatch advises for speed), with the current minute included.
	end := now().UTC().Truncate(lagPeriod).Add(lagPeriod)
	start := end.Add(-LagWindow)
	in := &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(start),
		EndTime:   aws.Time(end),
		// Newest first: the first value of the first page is the answer; the probe
		// still compares timestamps so that it never depends on the order.
		ScanBy: cwtypes.ScanByTimestampDescending,
		MetricDataQueries: []cwtypes.MetricDataQuery{{
			Id: aws.String(lagQueryID),
			MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{
					Namespace:  aws.String(rdsNamespace),
					MetricName: aws.String(rdsReplicaLagMetric),
					Dimensions: []cwtypes.Dimension{{Name: aws.String(rdsInstanceDim), Value: aws.String(p.Instance)}},
				},
				Period: aws.Int32(int32(lagPeriod / time.Second)),
				// Maximum: should a period hold more than one sample, the worst
				// counts. No Unit: a Unit that does not match the stored one makes
				// CloudWatch return nothing.
				Stat: aws.String("Maximum"),
			},
			ReturnData: aws.Bool(true),
		}},
	}
	var (
		found    bool
		newestAt time.Time
		newest   float64
		status   cwtypes.StatusCode
		messages []string
	)
	for page := 0; ; page++ {
		if page == lagMaxPages {
			return Lag{}, fmt.Errorf("replica lag: CloudWatch GetMetricData for %s=%s still returns a NextToken after %d pages", rdsInstanceDim, p.Instance, lagMaxPages)
		}
		out, err := p.CW.GetMetricData(ctx, in)
		if err != nil {
			return Lag{}, fmt.Errorf("replica lag: CloudWatch GetMetricData %s %s for %s=%s: %w", rdsNamespace, rdsReplicaLagMetric, rdsInstanceDim, p.Instance, err)
		}
		for _, m := range out.Messages {
			messages = append(messages, aws.ToString(m.Code)+": "+aws.ToString(m.Value))
		}
		for _, r := range out.MetricDataResults {
			if aws.ToString(r.Id) != lagQueryID {
				continue
			}
			status = r.StatusCode
			for _, m := range r.Messages {
				messages = append(messages, aws.ToString(m.Code)+": "+aws.ToString(m.Value))
			}
			if len(r.Timestamps) != len(r.Values) {
				return Lag{}, fmt.Errorf("replica lag: CloudWatch returned %d timestamps and %d values for %s=%s", len(r.Timestamps), len(r.Values), rdsInstanceDim, p.Instance)
			}
			for i, at := range r.Timestamps {
				if !found || at.After(newestAt) {
					found, newestAt, newest = true, at, r.Values[i]
				}
			}
		}
		// With the newest datapoint in hand and timestamps descending, later pages
		// hold only older ones.
		if found || out.NextToken == nil || *out.NextToken == "" {
			break
		}
		// PartialData and InternalError both say: ask again with NextToken.
		in.NextToken = out.NextToken
	}
	if !found {
		switch status {
		case "", cwtypes.StatusCodeComplete, cwtypes.StatusCodePartialData:
			return Lag{}, &NoLagDataError{Instance: p.Instance, Start: start, End: end}
		default:
			return Lag{}, &MetricStatusError{Instance: p.Instance, Status: status, Messages: messages}
		}
	}
	if newest < 0 {
		// -1 is Seconds_Behind_Master NULL: replication is not running.
		return Lag{Stopped: true}, nil
	}
	return Lag{Behind: time.Duration(newest * float64(time.Second))}, nil
}
