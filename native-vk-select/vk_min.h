// The handful of Vulkan and loader-layer-interface declarations vk_select.c uses, copied in
// layout from vulkan_core.h and vk_layer.h (Vulkan-Headers), so the layer builds with any C
// compiler and no Vulkan SDK. Structures the layer only passes through are opaque.
#ifndef TKNP_VK_MIN_H
#define TKNP_VK_MIN_H

#include <stdint.h>

#if defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7 && defined(__ARM_32BIT_STATE)
#define VKAPI_ATTR __attribute__((pcs("aapcs-vfp")))
#else
#define VKAPI_ATTR
#endif
#define VKAPI_CALL

typedef uint32_t VkBool32;
typedef uint32_t VkFlags;
typedef int32_t VkResult;
typedef int32_t VkStructureType;
typedef struct VkInstance_T *VkInstance;
typedef struct VkPhysicalDevice_T *VkPhysicalDevice;
typedef struct VkDevice_T *VkDevice;
typedef struct VkAllocationCallbacks VkAllocationCallbacks;  // passed through only

#define VK_FALSE 0u
#define VK_UUID_SIZE 16
#define VK_LUID_SIZE 8
#define VK_MAX_PHYSICAL_DEVICE_NAME_SIZE 256
#define VK_MAX_EXTENSION_NAME_SIZE 256
#define VK_MAX_DEVICE_GROUP_SIZE 32

#define VK_SUCCESS 0
#define VK_INCOMPLETE 5
#define VK_ERROR_OUT_OF_HOST_MEMORY (-1)
#define VK_ERROR_INITIALIZATION_FAILED (-3)
#define VK_ERROR_EXTENSION_NOT_PRESENT (-7)

#define VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO 47
#define VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_GROUP_PROPERTIES 1000070000
#define VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2 1000059001
#define VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES 1000071004
#define VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PCI_BUS_INFO_PROPERTIES_EXT 1000212000

#define VK_API_VERSION_MAJOR(v) (((uint32_t)(v) >> 22) & 0x7fu)
#define VK_API_VERSION_MINOR(v) (((uint32_t)(v) >> 12) & 0x3ffu)
#define VK_API_VERSION_1_1 ((1u << 22) | (1u << 12))
#define VK_KHR_GET_PHYSICAL_DEVICE_PROPERTIES_2_EXTENSION_NAME "VK_KHR_get_physical_device_properties2"

typedef struct VkBaseInStructure {
  VkStructureType sType;
  const struct VkBaseInStructure *pNext;
} VkBaseInStructure;

typedef struct VkApplicationInfo {
  VkStructureType sType;
  const void *pNext;
  const char *pApplicationName;
  uint32_t applicationVersion;
  const char *pEngineName;
  uint32_t engineVersion;
  uint32_t apiVersion;
} VkApplicationInfo;

typedef struct VkInstanceCreateInfo {
  VkStructureType sType;
  const void *pNext;
  VkFlags flags;
  const VkApplicationInfo *pApplicationInfo;
  uint32_t enabledLayerCount;
  const char *const *ppEnabledLayerNames;
  uint32_t enabledExtensionCount;
  const char *const *ppEnabledExtensionNames;
} VkInstanceCreateInfo;

typedef struct VkExtensionProperties {
  char extensionName[VK_MAX_EXTENSION_NAME_SIZE];
  uint32_t specVersion;
} VkExtensionProperties;

// VkPhysicalDeviceProperties up to deviceName; `limits` and `sparseProperties` (824 bytes in
// all on LP64) land in the padding, which is larger than the real structure.
typedef struct VkPhysicalDevicePropertiesHead {
  uint32_t apiVersion;
  uint32_t driverVersion;
  uint32_t vendorID;
  uint32_t deviceID;
  int32_t deviceType;
  char deviceName[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
  uint8_t pipelineCacheUUID[VK_UUID_SIZE];
} VkPhysicalDevicePropertiesHead;

typedef struct VkPhysicalDeviceProperties2 {
  VkStructureType sType;
  void *pNext;
  union {
    VkPhysicalDevicePropertiesHead properties;
    uint64_t padding[256];
  };
} VkPhysicalDeviceProperties2;

typedef struct VkPhysicalDeviceIDProperties {
  VkStructureType sType;
  void *pNext;
  uint8_t deviceUUID[VK_UUID_SIZE];
  uint8_t driverUUID[VK_UUID_SIZE];
  uint8_t deviceLUID[VK_LUID_SIZE];
  uint32_t deviceNodeMask;
  VkBool32 deviceLUIDValid;
} VkPhysicalDeviceIDProperties;

typedef struct VkPhysicalDevicePCIBusInfoPropertiesEXT {
  VkStructureType sType;
  void *pNext;
  uint32_t pciDomain;
  uint32_t pciBus;
  uint32_t pciDevice;
  uint32_t pciFunction;
} VkPhysicalDevicePCIBusInfoPropertiesEXT;

typedef struct VkPhysicalDeviceGroupProperties {
  VkStructureType sType;
  void *pNext;
  uint32_t physicalDeviceCount;
  VkPhysicalDevice physicalDevices[VK_MAX_DEVICE_GROUP_SIZE];
  VkBool32 subsetAllocation;
} VkPhysicalDeviceGroupProperties;

typedef void(VKAPI_CALL *PFN_vkVoidFunction)(void);
typedef PFN_vkVoidFunction(VKAPI_CALL *PFN_vkGetInstanceProcAddr)(VkInstance instance, const char *pName);
typedef PFN_vkVoidFunction(VKAPI_CALL *PFN_vkGetDeviceProcAddr)(VkDevice device, const char *pName);
typedef PFN_vkVoidFunction(VKAPI_CALL *PFN_GetPhysicalDeviceProcAddr)(VkInstance instance, const char *pName);
typedef VkResult(VKAPI_CALL *PFN_vkCreateInstance)(const VkInstanceCreateInfo *, const VkAllocationCallbacks *, VkInstance *);
typedef void(VKAPI_CALL *PFN_vkDestroyInstance)(VkInstance, const VkAllocationCallbacks *);
typedef VkResult(VKAPI_CALL *PFN_vkEnumeratePhysicalDevices)(VkInstance, uint32_t *, VkPhysicalDevice *);
typedef VkResult(VKAPI_CALL *PFN_vkEnumeratePhysicalDeviceGroups)(VkInstance, uint32_t *, VkPhysicalDeviceGroupProperties *);
typedef void(VKAPI_CALL *PFN_vkGetPhysicalDeviceProperties2)(VkPhysicalDevice, VkPhysicalDeviceProperties2 *);
typedef VkResult(VKAPI_CALL *PFN_vkEnumerateDeviceExtensionProperties)(VkPhysicalDevice, const char *, uint32_t *, VkExtensionProperties *);

// vk_layer.h: the loader's chain of layers, passed in VkInstanceCreateInfo::pNext.
typedef enum VkLayerFunction_ { VK_LAYER_LINK_INFO = 0 } VkLayerFunction;

typedef struct VkLayerInstanceLink_ {
  struct VkLayerInstanceLink_ *pNext;
  PFN_vkGetInstanceProcAddr pfnNextGetInstanceProcAddr;
  PFN_GetPhysicalDeviceProcAddr pfnNextGetPhysicalDeviceProcAddr;
} VkLayerInstanceLink;

typedef struct VkLayerInstanceCreateInfo {
  VkStructureType sType;  // VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO
  const void *pNext;
  VkLayerFunction function;
  union {
    VkLayerInstanceLink *pLayerInfo;
    void *other;  // the loader's callbacks for other `function` values (unused here)
  } u;
} VkLayerInstanceCreateInfo;

typedef enum VkNegotiateLayerStructType {
  LAYER_NEGOTIATE_UNINTIALIZED = 0,
  LAYER_NEGOTIATE_INTERFACE_STRUCT = 1,
} VkNegotiateLayerStructType;

typedef struct VkNegotiateLayerInterface {
  VkNegotiateLayerStructType sType;
  void *pNext;
  uint32_t loaderLayerInterfaceVersion;
  PFN_vkGetInstanceProcAddr pfnGetInstanceProcAddr;
  PFN_vkGetDeviceProcAddr pfnGetDeviceProcAddr;
  PFN_GetPhysicalDeviceProcAddr pfnGetPhysicalDeviceProcAddr;
} VkNegotiateLayerInterface;

#endif
