package run

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
)

// recordingCatalog has one table and records the updates made to it.
type recordingCatalog struct {
	CatalogAPI
	updates []*glue.UpdateTableInput
}

func (c *recordingCatalog) GetTable(_ context.Context, in *glue.GetTableInput, _ ...func(*glue.Options)) (*glue.GetTableOutput, error) {
	return &glue.GetTableOutput{Table: &gluetypes.Table{Name: in.Name, StorageDescriptor: &gluetypes.StorageDescriptor{
		Columns: []gluetypes.Column{{Name: aws.String("id"), Type: aws.String("bigint")}}}}}, nil
}

func (c *recordingCatalog) UpdateTable(_ context.Context, in *glue.UpdateTableInput, _ ...func(*glue.Options)) (*glue.UpdateTableOutput, error) {
	c.updates = append(c.updates, in)
	return &glue.UpdateTableOutput{}, nil
}

// TestSwitchGenerationArchivesNoVersion: a switch must not archive a table
// version (Glue keeps at most 100,000 per table and 1,000,000 per account, and
// current tables switch at every run that changes them); a switch without columns
// (a key check without a load) keeps the table's columns.
func TestSwitchGenerationArchivesNoVersion(t *testing.T) {
	c := &recordingCatalog{}
	if err := SwitchGeneration(context.Background(), c, Generation{Database: "raw_shop_current", Table: "orders", Location: "s3://lake/current/shop/orders/gen=r/", Run: "r"}); err != nil {
		t.Fatal(err)
	}
	if len(c.updates) != 1 || !aws.ToBool(c.updates[0].SkipArchive) {
		t.Fatalf("updates %+v: want one, with SkipArchive", c.updates)
	}
	if cols := c.updates[0].TableInput.StorageDescriptor.Columns; len(cols) != 1 || aws.ToString(cols[0].Name) != "id" {
		t.Errorf("columns %+v: the table's own were not kept", cols)
	}
}
