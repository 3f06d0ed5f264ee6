// Command policydecode decodes a descheduler policy file the way the descheduler does at start-up
// (its scheme and its universal decoder, which decodes plugin args strictly) and prints the
// decoded policy as JSON, or the decoding error and exit status 1.
//
// The conformance suite builds it against each proven descheduler release (see
// tests/conformance/gobuild.py); only the API, scheme, registry and plugin packages are imported.
// Plugin args decode into their types only for plugins in the registry (the descheduler fills it
// at start-up in pkg/descheduler, which this program does not import), so the plugins the
// project's policy uses are registered here, and args left undecoded fail the run rather than pass.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/descheduler/pkg/api"
	"sigs.k8s.io/descheduler/pkg/api/v1alpha2"
	"sigs.k8s.io/descheduler/pkg/descheduler/scheme"
	"sigs.k8s.io/descheduler/pkg/framework/pluginregistry"
	"sigs.k8s.io/descheduler/pkg/framework/plugins/defaultevictor"
	"sigs.k8s.io/descheduler/pkg/framework/plugins/removepodsviolatingnodetaints"
)

func register() {
	pluginregistry.PluginRegistry = pluginregistry.NewRegistry()
	pluginregistry.Register(defaultevictor.PluginName, defaultevictor.New, &defaultevictor.DefaultEvictor{},
		&defaultevictor.DefaultEvictorArgs{}, defaultevictor.ValidateDefaultEvictorArgs,
		defaultevictor.SetDefaults_DefaultEvictorArgs, pluginregistry.PluginRegistry)
	pluginregistry.Register(removepodsviolatingnodetaints.PluginName, removepodsviolatingnodetaints.New,
		&removepodsviolatingnodetaints.RemovePodsViolatingNodeTaints{},
		&removepodsviolatingnodetaints.RemovePodsViolatingNodeTaintsArgs{},
		removepodsviolatingnodetaints.ValidateRemovePodsViolatingNodeTaintsArgs,
		removepodsviolatingnodetaints.SetDefaults_RemovePodsViolatingNodeTaintsArgs, pluginregistry.PluginRegistry)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: policydecode POLICY_FILE")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	register()
	policy := &api.DeschedulerPolicy{}
	decoder := scheme.Codecs.UniversalDecoder(v1alpha2.SchemeGroupVersion, api.SchemeGroupVersion)
	if err := runtime.DecodeInto(decoder, raw, policy); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, profile := range policy.Profiles {
		for _, config := range profile.PluginConfigs {
			if _, unknown := config.Args.(*runtime.Unknown); unknown || config.Args == nil {
				fmt.Fprintf(os.Stderr, "plugin %s: args not decoded (plugin not registered here)\n", config.Name)
				os.Exit(2)
			}
			if err := pluginregistry.PluginRegistry[config.Name].PluginArgValidator(config.Args); err != nil {
				fmt.Fprintf(os.Stderr, "plugin %s: %v\n", config.Name, err)
				os.Exit(1)
			}
		}
	}
	out, err := json.Marshal(policy)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(string(out))
}
